//! The single-use guard: a ticket resumes at most one IKE SA.
//!
//! RFC 5723 §4.3.1 (in substance): a ticket counts as *used* only once the
//! resumed IKE_AUTH exchange has succeeded, so the responder claims it there
//! and only looks at IKE_SESSION_RESUME time. §9.3 and Appendix A (in
//! substance): tickets are for one use, and a gateway that wants replay
//! protection must refuse a ticket it has already accepted. Rebound always
//! refuses a replay; [`TicketReject::Reused`] answers TICKET_NACK.
//!
//! [`SingleUseGuard`] is the contract; [`MemoryGuard`] is a bounded
//! in-memory implementation built from Bloom filters. Its design, in short:
//!
//! - **Remember only until expiry.** A ticket past its absolute expiry is
//!   refused as [`TicketReject::Expired`] whatever the guard says, so a
//!   claimed id needs remembering only until its ticket's expiry. Claims
//!   are filed by expiry into *generations*: generation `g` holds the
//!   claims whose expiry lies in `[g·W, (g+1)·W)` for a window of `W`
//!   seconds. `G = ⌈L/W⌉ + 1` slots (for a maximum ticket lifetime `L`) are
//!   enough to hold every generation that can still be live; generation
//!   `g` lives in slot `g mod G`, and a slot is cleared and reused (lazily,
//!   by the first claim that needs it) once the generation it held has
//!   wholly expired.
//! - **Bloom filters.** Each generation is a Bloom filter of `m` bits with
//!   `k` hash functions, sized by the standard formulas for `n` expected
//!   claims per generation and a target false-positive rate `p`:
//!   `m = ⌈−n·ln p / (ln 2)²⌉`, `k = round((m/n)·ln 2)`. A false positive
//!   refuses a fresh ticket as reused (the client falls back to a full
//!   handshake); there are no false negatives, ever.
//! - **Lock striping, for linearizability.** The filters are split into `S`
//!   shards. An id's keyed hash picks its shard, and *all* `k` of its bits,
//!   in every generation, lie in that shard's slice. Each shard is one
//!   `Mutex` that owns its slice of every generation plus the slot tags,
//!   so a claim is a test-and-set of `k` bits done entirely under one lock.
//!   Two claims of the same id take the same lock and are therefore
//!   ordered: the first sets the bits, the second finds them all set. (A
//!   lock-free filter that sets each bit with its own `fetch_or` is not
//!   linearizable: two racing claimers can each find a *different* bit
//!   previously unset and both win.) Distinct ids mostly take different
//!   locks, so workers rarely wait; each shard sits on its own cache lines.
//! - **Hashing.** Ticket ids are our own random values: they come from
//!   inside AEAD-protected tickets (or from the gateway's own store), so a
//!   peer cannot choose them. They are still mixed with a per-guard random
//!   seed through SipHash-1-3, so the filter layout cannot be predicted
//!   from an id. The 64-bit hash picks the shard; two words derived from it
//!   by a bijective mixer give the `k` bit positions by double hashing
//!   (`h1 + i·h2`), each reduced to the slice with a multiply-shift.
//!
//! - **Bursts.** Taking a lock is a full fence on x86, so a lone claim
//!   cannot overlap its cache misses with the next claim's, and a claim on
//!   a filter far larger than the caches costs one memory round trip.
//!   [`SingleUseGuard::claim_batch`] hashes a burst and reads each claim's
//!   words without the lock first (the misses overlap), then claims each
//!   under its lock on words already in cache. The bits are `AtomicU64`
//!   only to permit that lock-free read; every write and every read that
//!   decides anything happens under the shard lock.
//!
//! With the defaults ([`GuardConfig::default`]: 10 million claims per
//! generation at 1 %, 8-hour windows, 24-hour tickets, 64 shards) each
//! generation is 11.4 MiB and the guard 45.7 MiB in all (4 generations),
//! whether 10 million claims land in one window (false-positive rate 1 %)
//! or are spread over the whole lifetime (far below 1 %). See
//! [`GuardConfig::memory_bytes`].

use core::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::types::{TicketId, TicketReject, UnixSeconds};

/// Remembers which tickets have already resumed an IKE SA, so that each
/// ticket resumes at most one. Shared by every worker.
pub trait SingleUseGuard: Send + Sync {
    /// Claim the ticket `id` (whose absolute expiry is `expiry`) at `now`.
    ///
    /// Succeeds exactly once per ticket, however many threads race: every
    /// later claim returns `Err(TicketReject::Reused)` until the ticket
    /// expires (after which refusals say `Expired`). An implementation may
    /// also refuse a ticket it cannot track (see the implementation's
    /// documentation); it never accepts a ticket twice.
    fn claim(
        &self,
        id: &TicketId,
        expiry: UnixSeconds,
        now: UnixSeconds,
    ) -> Result<(), TicketReject>;

    /// The read-only check the responder makes at IKE_SESSION_RESUME time,
    /// before the ticket is claimed at IKE_AUTH: `true` exactly when
    /// [`claim`](Self::claim) with the same arguments would now return
    /// `Err(TicketReject::Reused)`. Other refusals (`Expired`, and the
    /// implementation's own) are `claim`'s to report.
    fn is_claimed(&self, id: &TicketId, expiry: UnixSeconds, now: UnixSeconds) -> bool;

    /// Claim a burst: `out[i]` receives what [`claim`](Self::claim) of
    /// `claims[i]` would return, the claims taking effect in order (an id
    /// twice in one batch wins once). Only the first `out.len()` claims are
    /// made, so `out` must be at least as long as `claims`. The default
    /// claims one by one; an implementation may overlap the work.
    fn claim_batch(
        &self,
        claims: &[Claim],
        now: UnixSeconds,
        out: &mut [Result<(), TicketReject>],
    ) {
        for (c, o) in claims.iter().zip(out.iter_mut()) {
            *o = self.claim(&c.id, c.expiry, now);
        }
    }
}

/// One claim of a [`SingleUseGuard::claim_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub id: TicketId,
    /// The ticket's absolute expiry.
    pub expiry: UnixSeconds,
}

/// How a [`MemoryGuard`] is sized.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardConfig {
    /// Claims whose ticket expiries fall in one window that each
    /// generation's filter is sized for (`n`). More claims than this still
    /// work, with a higher false-positive rate (see
    /// [`MemoryGuard::stats`]).
    pub claims_per_generation: u64,
    /// Target false-positive rate at `claims_per_generation` claims (`p`,
    /// strictly between 0 and 1).
    pub false_positive_rate: f64,
    /// Width of one generation's expiry window in seconds (`W`).
    pub window_secs: u64,
    /// The longest ticket lifetime the guard accepts (`L`): a claim whose
    /// expiry lies further than this beyond `now` is refused. Set it to the
    /// longest lifetime the gateways issue plus the clock skew tolerated
    /// between gateways that share ticket keys.
    pub max_ticket_lifetime_secs: u64,
    /// Number of lock stripes (`S`).
    pub shards: usize,
}

impl Default for GuardConfig {
    /// 10 million claims per generation at a 1 % false-positive rate,
    /// 8-hour windows, tickets of at most 24 hours, 64 shards: 45.7 MiB.
    fn default() -> Self {
        GuardConfig {
            claims_per_generation: 10_000_000,
            false_positive_rate: 0.01,
            window_secs: 8 * 3600,
            max_ticket_lifetime_secs: 24 * 3600,
            shards: 64,
        }
    }
}

/// Why a [`GuardConfig`] cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuardConfigError {
    /// `claims_per_generation` is zero.
    ZeroCapacity,
    /// `false_positive_rate` is not strictly between 0 and 1.
    FalsePositiveRateOutOfRange,
    /// `window_secs` is zero.
    ZeroWindow,
    /// `max_ticket_lifetime_secs` is zero.
    ZeroLifetime,
    /// `shards` is zero or above [`MAX_SHARDS`].
    ShardCount,
    /// The filters would not fit in this machine's address space.
    TooLarge,
}

impl fmt::Display for GuardConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            GuardConfigError::ZeroCapacity => "single-use guard: claims_per_generation is zero",
            GuardConfigError::FalsePositiveRateOutOfRange => {
                "single-use guard: false_positive_rate must be strictly between 0 and 1"
            }
            GuardConfigError::ZeroWindow => "single-use guard: window_secs is zero",
            GuardConfigError::ZeroLifetime => "single-use guard: max_ticket_lifetime_secs is zero",
            GuardConfigError::ShardCount => "single-use guard: shards must be 1..=65536",
            GuardConfigError::TooLarge => {
                "single-use guard: the filters would not fit in the address space"
            }
        };
        f.write_str(s)
    }
}

impl std::error::Error for GuardConfigError {}

/// The largest number of shards a [`GuardConfig`] may ask for.
pub const MAX_SHARDS: usize = 1 << 16;

/// The sizes a [`GuardConfig`] works out to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// Hash functions per claim (`k`).
    hashes: u32,
    /// Generation slots (`G`).
    generations: usize,
    /// Shards (`S`).
    shards: usize,
    /// 64-bit words of one generation inside one shard.
    words_per_slice: usize,
    /// Total heap and inline bytes of a guard of this layout.
    memory_bytes: usize,
}

impl GuardConfig {
    fn layout(&self) -> Result<Layout, GuardConfigError> {
        if self.claims_per_generation == 0 {
            return Err(GuardConfigError::ZeroCapacity);
        }
        let p = self.false_positive_rate;
        if !(p > 0.0 && p < 1.0) {
            return Err(GuardConfigError::FalsePositiveRateOutOfRange);
        }
        if self.window_secs == 0 {
            return Err(GuardConfigError::ZeroWindow);
        }
        if self.max_ticket_lifetime_secs == 0 {
            return Err(GuardConfigError::ZeroLifetime);
        }
        if self.shards == 0 || self.shards > MAX_SHARDS {
            return Err(GuardConfigError::ShardCount);
        }
        let ln2 = core::f64::consts::LN_2;
        let n = self.claims_per_generation as f64;
        // m = ⌈−n·ln p / (ln 2)²⌉, spread over the shards in whole words.
        let bits = (-n * p.ln() / (ln2 * ln2)).ceil();
        let words_per_slice = (bits / 64.0 / self.shards as f64).ceil().max(1.0);
        if !words_per_slice.is_finite() || words_per_slice > (isize::MAX as f64) / 64.0 {
            return Err(GuardConfigError::TooLarge);
        }
        let words_per_slice = words_per_slice as usize;
        // k = round((m/n)·ln 2) with the m actually allocated, at least 1.
        let m = (words_per_slice as f64) * 64.0 * self.shards as f64;
        let hashes = ((m / n) * ln2).round().clamp(1.0, 64.0) as u32;
        // G = ⌈L/W⌉ + 1 slots hold every generation that can be live.
        let generations = self
            .max_ticket_lifetime_secs
            .div_ceil(self.window_secs)
            .checked_add(1)
            .and_then(|g| usize::try_from(g).ok())
            .ok_or(GuardConfigError::TooLarge)?;
        let per_shard = words_per_slice
            .checked_mul(generations)
            .and_then(|w| w.checked_mul(8))
            .and_then(|b| {
                // Slot tags and claim counters.
                b.checked_add(generations.checked_mul(
                    core::mem::size_of::<Option<u64>>() + core::mem::size_of::<u64>(),
                )?)
            })
            .and_then(|b| b.checked_add(core::mem::size_of::<Shard>()))
            .ok_or(GuardConfigError::TooLarge)?;
        let memory_bytes = per_shard
            .checked_mul(self.shards)
            .and_then(|b| b.checked_add(core::mem::size_of::<MemoryGuard>()))
            .filter(|&b| b <= isize::MAX as usize)
            .ok_or(GuardConfigError::TooLarge)?;
        Ok(Layout {
            hashes,
            generations,
            shards: self.shards,
            words_per_slice,
            memory_bytes,
        })
    }

    /// The memory a [`MemoryGuard`] of this configuration takes, worked out
    /// without allocating it: all generations' filters, slot tags, claim
    /// counters and the shard locks. [`MemoryGuard::new`] allocates and
    /// zeroes all of it, so no page is first touched on the packet path.
    pub fn memory_bytes(&self) -> Result<usize, GuardConfigError> {
        Ok(self.layout()?.memory_bytes)
    }

    /// Bits in one generation's filter (`m`, rounded up to whole words in
    /// every shard).
    pub fn bits_per_generation(&self) -> Result<u64, GuardConfigError> {
        let l = self.layout()?;
        Ok(l.words_per_slice as u64 * 64 * l.shards as u64)
    }

    /// Hash functions per claim (`k`).
    pub fn hash_count(&self) -> Result<u32, GuardConfigError> {
        Ok(self.layout()?.hashes)
    }

    /// Generation slots (`G = ⌈L/W⌉ + 1`).
    pub fn generations(&self) -> Result<usize, GuardConfigError> {
        Ok(self.layout()?.generations)
    }
}

/// Counters for metrics, from [`MemoryGuard::stats`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardStats {
    /// Claims remembered in generations that are still live.
    pub live_claims: u64,
    /// Claims in the fullest live generation.
    pub busiest_generation_claims: u64,
    /// The false-positive rate a fresh ticket of the fullest live
    /// generation meets now, estimated from its fill:
    /// `(1 − e^(−k·n/m))^k`.
    pub estimated_false_positive_rate: f64,
}

/// What a shard's lock protects besides the bits.
struct ShardState {
    /// The generation each slot holds; `None` while the slot is unused.
    /// A slot's tag only ever grows.
    tags: Box<[Option<u64>]>,
    /// Successful claims in each slot since it was last recycled.
    claims: Box<[u64]>,
}

/// A lock stripe: one shard's slice of every generation, on cache lines of
/// its own so that workers claiming in different shards do not
/// false-share.
#[repr(align(128))]
struct Shard {
    state: Mutex<ShardState>,
    /// Bits of slot `s` are `bits[s * words_per_slice..(s + 1) *
    /// words_per_slice]`. They are atomics only so that
    /// [`MemoryGuard::claim_batch`] may *read* them without the lock, to
    /// bring them into cache ahead of the locked pass (the value read is
    /// discarded). Every write, and every read whose value matters, happens
    /// while `state` is locked; the lock orders them, so `Relaxed` loads
    /// and plain stores (no read-modify-write) suffice.
    bits: Box<[AtomicU64]>,
}

impl Shard {
    /// The shard's state. A panic while the lock was held cannot leave the
    /// state unsafe to use: bits are only ever set (a claim interrupted
    /// half-way returned no success, so at worst a fresh id later meets a
    /// false positive), and recycling sets the tag only after clearing.
    fn lock(&self) -> MutexGuard<'_, ShardState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The words of one slot.
    fn slot(&self, slot: usize, wps: usize) -> &[AtomicU64] {
        &self.bits[slot * wps..(slot + 1) * wps]
    }
}

/// Where an id's bits are: its shard and the double-hashing pair.
#[derive(Clone, Copy)]
struct Probe {
    shard: usize,
    h1: u64,
    h2: u64,
}

/// A bounded, thread-safe [`SingleUseGuard`] made of time-bucketed Bloom
/// filters under striped locks (see the [module documentation](self)).
///
/// It remembers the pair (id, expiry): a ticket's expiry is authenticated
/// together with its id, so one ticket always presents the same pair.
///
/// Refusals besides `Reused`:
/// - `expiry <= now`: [`TicketReject::Expired`].
/// - `expiry > now + max_ticket_lifetime_secs`: [`TicketReject::Malformed`].
///   No gateway sharing our keys issues such a ticket, and the guard could
///   not remember it for long enough.
/// - A ticket whose generation has already been recycled (possible only
///   when callers' clocks disagree, since recycling needs a `now` past the
///   whole generation): [`TicketReject::Expired`]. Time never runs
///   backwards for the guard: what it has forgotten stays refused.
pub struct MemoryGuard {
    shards: Box<[Shard]>,
    config: GuardConfig,
    layout: Layout,
    /// Bits per shard slice (`words_per_slice · 64`).
    slice_bits: u64,
    k0: u64,
    k1: u64,
}

impl fmt::Debug for MemoryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The seed is not printed: it would reveal the filter layout.
        f.debug_struct("MemoryGuard")
            .field("config", &self.config)
            .field("hashes", &self.layout.hashes)
            .field("generations", &self.layout.generations)
            .field("memory_bytes", &self.layout.memory_bytes)
            .finish_non_exhaustive()
    }
}

impl MemoryGuard {
    /// A guard sized by `config`, its hash keyed by `seed` (16 random
    /// bytes from the engine's injected generator, different per guard).
    pub fn new(config: GuardConfig, seed: [u8; 16]) -> Result<Self, GuardConfigError> {
        let layout = config.layout()?;
        let words = layout
            .words_per_slice
            .checked_mul(layout.generations)
            .ok_or(GuardConfigError::TooLarge)?;
        let shards = (0..layout.shards)
            .map(|_| Shard {
                state: Mutex::new(ShardState {
                    tags: vec![None; layout.generations].into_boxed_slice(),
                    claims: vec![0; layout.generations].into_boxed_slice(),
                }),
                bits: (0..words).map(|_| AtomicU64::new(0)).collect(),
            })
            .collect();
        let (k0, k1) = le_words(&seed);
        Ok(MemoryGuard {
            shards,
            slice_bits: layout.words_per_slice as u64 * 64,
            layout,
            config,
            k0,
            k1,
        })
    }

    /// The configuration this guard was built from.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Memory taken by the guard (see [`GuardConfig::memory_bytes`]); all of
    /// it is written (zeroed) when the guard is built.
    pub fn memory_bytes(&self) -> usize {
        self.layout.memory_bytes
    }

    /// The configured target false-positive rate, met while a generation
    /// holds at most `claims_per_generation` claims. The rate actually met
    /// now is in [`stats`](Self::stats).
    pub fn false_positive_rate(&self) -> f64 {
        self.config.false_positive_rate
    }

    /// Hash functions per claim (`k`).
    pub fn hash_count(&self) -> u32 {
        self.layout.hashes
    }

    /// Bits in one generation's filter (`m`).
    pub fn bits_per_generation(&self) -> u64 {
        self.slice_bits * self.layout.shards as u64
    }

    /// Generation slots (`G`).
    pub fn generations(&self) -> usize {
        self.layout.generations
    }

    /// Claims held and the estimated false-positive rate, over the
    /// generations still live at `now`. Takes every shard's lock in turn:
    /// for metrics, not for the packet path.
    pub fn stats(&self, now: UnixSeconds) -> GuardStats {
        let w = self.config.window_secs;
        // Claims per live generation, summed over shards. Each shard
        // recycles lazily, so shards may disagree on a slot's tag.
        let mut per_gen: Vec<(u64, u64)> = Vec::with_capacity(self.layout.generations);
        for shard in self.shards.iter() {
            let st = shard.lock();
            for (tag, &claims) in st.tags.iter().zip(st.claims.iter()) {
                let Some(g) = *tag else { continue };
                if g.saturating_add(1).saturating_mul(w) <= now {
                    continue;
                }
                match per_gen.iter_mut().find(|(pg, _)| *pg == g) {
                    Some((_, c)) => *c += claims,
                    None => per_gen.push((g, claims)),
                }
            }
        }
        let live_claims = per_gen.iter().map(|&(_, c)| c).sum();
        let busiest = per_gen.iter().map(|&(_, c)| c).max().unwrap_or(0);
        let k = f64::from(self.layout.hashes);
        let m = self.bits_per_generation() as f64;
        let fill = 1.0 - (-k * busiest as f64 / m).exp();
        GuardStats {
            live_claims,
            busiest_generation_claims: busiest,
            estimated_false_positive_rate: fill.powf(k),
        }
    }

    /// The generation a claim belongs to, or why the guard refuses it.
    fn generation(&self, expiry: UnixSeconds, now: UnixSeconds) -> Result<u64, TicketReject> {
        // RFC 5723 §6.1 (in substance): a ticket carries an absolute expiry
        // and is not accepted after it. Opening refuses it first; the guard
        // refuses it too rather than file it.
        if expiry <= now {
            return Err(TicketReject::Expired);
        }
        // We never issue a ticket living longer than the maximum, and the
        // slots could not remember one for long enough.
        if expiry - now > self.config.max_ticket_lifetime_secs {
            return Err(TicketReject::Malformed);
        }
        Ok(expiry / self.config.window_secs)
    }

    /// Keyed hash of the id: shard and double-hashing pair.
    fn probe(&self, id: &TicketId) -> Probe {
        let (m0, m1) = le_words(&id.0);
        let h = siphash::<1, 3>(self.k0, self.k1, m0, m1);
        Probe {
            // The shard from the high bits of h ...
            shard: reduce(h, self.layout.shards as u64) as usize,
            // ... and the positions from two words a bijective mixer makes
            // of h: their high bits are independent of h's.
            h1: mix64(h ^ 0x243f_6a88_85a3_08d3),
            // Odd, so the k positions never all coincide.
            h2: mix64(h ^ 0x1319_8a2e_0370_7344) | 1,
        }
    }
}

impl MemoryGuard {
    /// The claim proper, for an id already hashed into `p` and filed in
    /// generation `g`.
    fn claim_probed(&self, p: Probe, g: u64) -> Result<(), TicketReject> {
        let wps = self.layout.words_per_slice;
        let slot = (g % self.layout.generations as u64) as usize;
        let shard = &self.shards[p.shard];
        let mut guard = shard.lock();
        let st = &mut *guard;
        let words = shard.slot(slot, wps);
        match st.tags[slot] {
            Some(t) if t == g => {}
            // The slot already holds a later generation: this ticket's
            // generation was recycled, which needed a `now` at or past
            // the end of its window. Forgotten means refused.
            Some(t) if t > g => return Err(TicketReject::Expired),
            older => {
                // The slot holds generation t < g with t ≡ g (mod G), so
                // t ≤ g − G. Since expiry ≤ now + L, g ≤ ⌊(now + L)/W⌋ ≤
                // ⌊now/W⌋ + ⌈L/W⌉ = ⌊now/W⌋ + G − 1, hence (t + 1)·W ≤ now:
                // every ticket filed in t has expired. Clear and reuse.
                if older.is_some() {
                    for w in words {
                        w.store(0, Ordering::Relaxed);
                    }
                }
                st.claims[slot] = 0;
                st.tags[slot] = Some(g);
            }
        }
        // RFC 5723 §4.3.1 and §9.3 (in substance): a ticket is used once
        // the resumed IKE_AUTH succeeds, and a used ticket MUST NOT resume
        // another SA. Test-and-set of all k bits under the shard lock:
        // the claim is fresh iff at least one bit was clear. (Load and
        // store, not fetch_or: the lock already excludes other writers.)
        let mut fresh = false;
        let mut x = p.h1;
        for _ in 0..self.layout.hashes {
            let bit = reduce(x, self.slice_bits);
            let mask = 1u64 << (bit & 63);
            let word = &words[(bit >> 6) as usize];
            let v = word.load(Ordering::Relaxed);
            if v & mask == 0 {
                fresh = true;
                word.store(v | mask, Ordering::Relaxed);
            }
            x = x.wrapping_add(p.h2);
        }
        if fresh {
            st.claims[slot] += 1;
            Ok(())
        } else {
            Err(TicketReject::Reused)
        }
    }

    /// Read (without the lock) the words a claim of `p` in generation `g`
    /// will touch, so that they are in cache when the locked pass comes.
    /// Plain loads carry no fence, so the misses of a whole batch overlap;
    /// the values are discarded.
    fn warm(&self, p: Probe, g: u64) -> u64 {
        let wps = self.layout.words_per_slice;
        let slot = (g % self.layout.generations as u64) as usize;
        let words = self.shards[p.shard].slot(slot, wps);
        let mut acc = 0;
        let mut x = p.h1;
        for _ in 0..self.layout.hashes {
            acc |= words[(reduce(x, self.slice_bits) >> 6) as usize].load(Ordering::Relaxed);
            x = x.wrapping_add(p.h2);
        }
        acc
    }
}

/// How many claims [`MemoryGuard::claim_batch`] hashes and warms before
/// claiming them (a stack buffer; no allocation).
const BATCH: usize = 32;

impl SingleUseGuard for MemoryGuard {
    fn claim(
        &self,
        id: &TicketId,
        expiry: UnixSeconds,
        now: UnixSeconds,
    ) -> Result<(), TicketReject> {
        let g = self.generation(expiry, now)?;
        self.claim_probed(self.probe(id), g)
    }

    /// Two passes over each run of up to 32 claims: hash every id and read
    /// its words without the lock (the cache misses overlap), then claim
    /// each in order under its shard's lock, on words now in cache. A lone
    /// claim cannot overlap its misses with anything: taking the lock is a
    /// full fence. The outcome is that of claiming one by one, in order.
    fn claim_batch(
        &self,
        claims: &[Claim],
        now: UnixSeconds,
        out: &mut [Result<(), TicketReject>],
    ) {
        let mut probes: [Result<(Probe, u64), TicketReject>; BATCH] =
            [Err(TicketReject::Malformed); BATCH];
        for (cs, os) in claims.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
            let mut acc = 0u64;
            for (c, slot) in cs.iter().zip(probes.iter_mut()) {
                *slot = self.generation(c.expiry, now).map(|g| {
                    let p = self.probe(&c.id);
                    acc |= self.warm(p, g);
                    (p, g)
                });
            }
            // Keep the warming loads from being optimised away.
            core::hint::black_box(acc);
            // Only this chunk's entries: `out` may be longer than `claims`.
            for (o, slot) in os.iter_mut().zip(&probes[..cs.len()]) {
                *o = slot.and_then(|(p, g)| self.claim_probed(p, g));
            }
        }
    }

    fn is_claimed(&self, id: &TicketId, expiry: UnixSeconds, now: UnixSeconds) -> bool {
        let Ok(g) = self.generation(expiry, now) else {
            return false;
        };
        let p = self.probe(id);
        let wps = self.layout.words_per_slice;
        let slot = (g % self.layout.generations as u64) as usize;
        let shard = &self.shards[p.shard];
        let st = shard.lock();
        if st.tags[slot] != Some(g) {
            // Nothing filed in g yet (claim would succeed), or g already
            // recycled (claim would say Expired).
            return false;
        }
        let words = shard.slot(slot, wps);
        let mut x = p.h1;
        for _ in 0..self.layout.hashes {
            let bit = reduce(x, self.slice_bits);
            if words[(bit >> 6) as usize].load(Ordering::Relaxed) & (1u64 << (bit & 63)) == 0 {
                return false;
            }
            x = x.wrapping_add(p.h2);
        }
        true
    }
}

/// Two little-endian words of 16 bytes.
#[inline]
fn le_words(b: &[u8; 16]) -> (u64, u64) {
    let (mut lo, mut hi) = ([0u8; 8], [0u8; 8]);
    lo.copy_from_slice(&b[..8]);
    hi.copy_from_slice(&b[8..]);
    (u64::from_le_bytes(lo), u64::from_le_bytes(hi))
}

/// Map `x` uniformly onto `0..n` by its high bits (multiply-shift), without
/// a division.
#[inline]
fn reduce(x: u64, n: u64) -> u64 {
    ((u128::from(x) * u128::from(n)) >> 64) as u64
}

/// A bijective 64-bit mixer with full avalanche (the SplitMix64 finalizer
/// constants).
#[inline]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// SipHash-C-D (Aumasson and Bernstein) of a 16-byte message given as two
/// little-endian words, with the 128-bit key (k0, k1). Written from the
/// paper's description; checked against the standard library's SipHash-2-4
/// in the tests below.
#[inline]
fn siphash<const C: usize, const D: usize>(k0: u64, k1: u64, m0: u64, m1: u64) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    // The last block carries the message length (16) in its top byte and
    // no message bytes, 16 being a multiple of 8.
    for m in [m0, m1, 16u64 << 56] {
        v[3] ^= m;
        for _ in 0..C {
            sip_round(&mut v);
        }
        v[0] ^= m;
    }
    v[2] ^= 0xff;
    for _ in 0..D {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our SipHash core, run as SipHash-2-4, equals the standard library's
    /// (deprecated, but still the reference SipHash-2-4) on 16-byte input.
    #[test]
    #[allow(deprecated)]
    fn siphash_matches_std_siphash24() {
        use std::hash::Hasher;
        let mut s = 0x0123_4567_89ab_cdefu64;
        for _ in 0..1000 {
            let mut next = || {
                s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
                mix64(s)
            };
            let (k0, k1, m0, m1) = (next(), next(), next(), next());
            let mut h = std::hash::SipHasher::new_with_keys(k0, k1);
            let mut msg = [0u8; 16];
            msg[..8].copy_from_slice(&m0.to_le_bytes());
            msg[8..].copy_from_slice(&m1.to_le_bytes());
            h.write(&msg);
            assert_eq!(siphash::<2, 4>(k0, k1, m0, m1), h.finish());
        }
    }

    /// Two guards with different seeds put the same id in different places.
    #[test]
    fn seed_changes_layout() {
        let cfg = GuardConfig {
            claims_per_generation: 1000,
            ..GuardConfig::default()
        };
        let a = MemoryGuard::new(cfg.clone(), [1; 16]).expect("config");
        let b = MemoryGuard::new(cfg, [2; 16]).expect("config");
        let id = TicketId([7; 16]);
        let (pa, pb) = (a.probe(&id), b.probe(&id));
        assert!(pa.h1 != pb.h1 || pa.h2 != pb.h2);
    }

    #[test]
    fn reduce_stays_in_range() {
        for n in [1u64, 2, 63, 64, 1_000_003, u64::MAX] {
            for x in [0u64, 1, u64::MAX / 2, u64::MAX] {
                assert!(reduce(x, n) < n);
            }
        }
    }
}
