//! The single-use guard: a ticket resumes at most one IKE SA.
//!
//! RFC 5723 §4.3.1: "Tickets are intended for one-time use, i.e., a client
//! MUST NOT reuse a ticket. A reused ticket SHOULD be rejected by a
//! gateway. Note that a ticket is considered as used only when an IKE SA
//! has been established successfully with it." So the responder claims a
//! ticket once the resumed IKE_AUTH exchange has succeeded, and only looks
//! at IKE_SESSION_RESUME time. §9.10: "the gateway SHOULD prevent multiple
//! uses of the same ticket." Rebound always refuses a replay;
//! [`TicketReject::Reused`] answers TICKET_NACK.
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
//! - **Blocked Bloom filters.** Each generation is a Bloom filter of `m`
//!   bits cut into 512-bit blocks, one cache line each; an id's `k` bits
//!   all lie in one block, so a claim reads and writes one cache line (and
//!   one page) instead of `k`. Sizing starts from the standard formula
//!   `m = ⌈−n·ln p / (ln 2)²⌉` for `n` claims per generation at a target
//!   false-positive rate `p`, then grows `m` until the blocked filter's
//!   exact rate meets `p`: blocks fill unevenly (a block's load is Poisson
//!   with mean `λ = 512·n/m`), so
//!   `FP = Σ_j P(j; λ)·(1 − (1 − 1/512)^(k·j))^k` (Putze, Sanders and
//!   Singler, "Cache-, Hash- and Space-Efficient Bloom Filters", 2007),
//!   and `k` is the one that minimises it. For `p` = 1 % that costs 4 %
//!   more bits than an unblocked filter, with `k = 6`. A false positive
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
//!   from an id. The 64-bit hash picks the shard (by its high bits); two
//!   words a bijective mixer makes of it pick the block (multiply-shift)
//!   and the `k` 9-bit positions inside the block.
//! - **Bursts.** Taking a lock is a full fence on x86, so a lone claim
//!   cannot overlap its cache miss with the next claim's: on a filter far
//!   larger than the caches a claim costs one memory round trip.
//!   [`SingleUseGuard::claim_batch`] hashes a burst and reads each claim's
//!   block without the lock first (the misses overlap), then claims each
//!   under its lock on a line already in cache. The bits are `AtomicU64`
//!   only to permit that lock-free read, whose value is discarded; every
//!   write and every read that decides anything happens under the shard
//!   lock.
//!
//! - **Persistence.** [`MemoryGuard::save`] writes the guard to a stream
//!   one shard at a time (claims go on in the other shards) and
//!   [`MemoryGuard::load`] reads it back, refusing a damaged stream or one
//!   of another layout with the reason ([`GuardLoadError`]); a gateway
//!   without a shared guard saves at an interval and when it drains, so
//!   single use survives a restart. The format is in the `persist`
//!   module's source.
//!
//! With the defaults ([`GuardConfig::default`]: 10 million claims per
//! generation at 1 %, 8-hour windows, 24-hour tickets, 64 shards) each
//! generation is 11.9 MiB and the guard 47.6 MiB in all (4 generations),
//! whether 10 million claims land in one window (false-positive rate 1 %)
//! or are spread over the whole lifetime (far below 1 %). See
//! [`GuardConfig::memory_bytes`].

use core::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::types::{TicketId, TicketReject, UnixSeconds};

mod persist;

pub use persist::{GuardLoadError, SaveStats};

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

    /// Revoke the ticket `id`: claimed like a use, so that any later
    /// presentation is refused. The default is [`claim`](Self::claim); a
    /// guard shared by a cluster also tells the other gateways.
    fn revoke(
        &self,
        id: &TicketId,
        expiry: UnixSeconds,
        now: UnixSeconds,
    ) -> Result<(), TicketReject> {
        self.claim(id, expiry, now)
    }

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
    /// from [`MIN_FALSE_POSITIVE_RATE`] to 0.5).
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
    /// 8-hour windows, tickets of at most 24 hours, 64 shards: 47.6 MiB.
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
    /// `false_positive_rate` is not within
    /// [`MIN_FALSE_POSITIVE_RATE`]`..=0.5`.
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
                "single-use guard: false_positive_rate must be within 1e-9..=0.5"
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

/// The smallest false-positive rate a [`GuardConfig`] may ask for (a
/// blocked filter then needs 1.8 times the bits of an unblocked one).
pub const MIN_FALSE_POSITIVE_RATE: f64 = 1e-9;

/// Bits in one block: one 64-byte cache line.
const BLOCK_BITS: u64 = 512;

/// A 512-bit block, aligned to a cache line.
#[repr(align(64))]
#[derive(Default)]
struct Block([AtomicU64; 8]);

/// The false-positive rate of a blocked Bloom filter of `m` bits in
/// 512-bit blocks holding `n` ids with `k` bits each: the rate of a
/// block holding `j` ids, `(1 − (1 − 1/512)^(k·j))^k`, averaged over the
/// Poisson(λ = 512·n/m) distribution of block loads.
fn blocked_fp(n: f64, m: f64, k: u32) -> f64 {
    let b = BLOCK_BITS as f64;
    let lambda = b * n / m;
    if lambda <= 0.0 {
        return 0.0;
    }
    let keep = (1.0 - 1.0 / b).ln() * f64::from(k);
    let last = (lambda + 12.0 * lambda.sqrt() + 30.0).ceil() as u64;
    // ln P(j; λ), updated term by term so that large λ cannot underflow.
    let mut ln_pj = -lambda;
    let mut sum = 0.0;
    for j in 0..=last {
        if j > 0 {
            ln_pj += lambda.ln() - (j as f64).ln();
        }
        let per_block = (1.0 - (keep * j as f64).exp()).powi(k as i32);
        sum += ln_pj.exp() * per_block;
    }
    sum.min(1.0)
}

/// The sizes a [`GuardConfig`] works out to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// Bits set per claim (`k`).
    hashes: u32,
    /// Generation slots (`G`).
    generations: usize,
    /// Shards (`S`).
    shards: usize,
    /// Blocks of one generation inside one shard.
    blocks_per_slice: usize,
    /// Total heap and inline bytes of a guard of this layout.
    memory_bytes: usize,
}

impl GuardConfig {
    fn layout(&self) -> Result<Layout, GuardConfigError> {
        if self.claims_per_generation == 0 {
            return Err(GuardConfigError::ZeroCapacity);
        }
        let p = self.false_positive_rate;
        if !(MIN_FALSE_POSITIVE_RATE..=0.5).contains(&p) {
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
        let s = self.shards as f64;
        let bb = BLOCK_BITS as f64;
        // Start from the standard m = ⌈−n·ln p / (ln 2)²⌉, in whole blocks
        // per shard, and grow it by 1 % steps until the blocked filter's
        // rate, with its best k, meets p. Within the allowed range of p the
        // growth stays under 1.9×; the cap only stops a runaway loop.
        let standard = -n * p.ln() / (ln2 * ln2);
        let mut blocks = (standard / bb / s).ceil().max(1.0);
        let limit = blocks * 4.0;
        let (blocks, hashes) = loop {
            if !blocks.is_finite() || blocks * bb * s > (isize::MAX as f64) {
                return Err(GuardConfigError::TooLarge);
            }
            let m = blocks * bb * s;
            let best = (1..=32u32)
                .map(|k| (blocked_fp(n, m, k), k))
                .min_by(|a, b| a.0.total_cmp(&b.0));
            match best {
                Some((fp, k)) if fp <= p => break (blocks, k),
                _ if blocks > limit => return Err(GuardConfigError::TooLarge),
                _ => blocks = (blocks * 1.01).ceil(),
            }
        };
        let blocks_per_slice = blocks as usize;
        // G = ⌈L/W⌉ + 1 slots hold every generation that can be live.
        let generations = self
            .max_ticket_lifetime_secs
            .div_ceil(self.window_secs)
            .checked_add(1)
            .and_then(|g| usize::try_from(g).ok())
            .ok_or(GuardConfigError::TooLarge)?;
        let per_shard = blocks_per_slice
            .checked_mul(generations)
            .and_then(|b| b.checked_mul(core::mem::size_of::<Block>()))
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
            blocks_per_slice,
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

    /// Bits in one generation's filter (`m`, in whole blocks in every
    /// shard).
    pub fn bits_per_generation(&self) -> Result<u64, GuardConfigError> {
        let l = self.layout()?;
        Ok(l.blocks_per_slice as u64 * BLOCK_BITS * l.shards as u64)
    }

    /// Bits set per claim (`k`).
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
    /// generation meets now, estimated from its claim count `n` with the
    /// blocked-filter formula of the [module documentation](self).
    pub estimated_false_positive_rate: f64,
}

/// What a shard's lock protects besides the bits.
struct ShardState {
    /// The generation each slot holds; `None` while the slot is unused.
    /// A slot's tag only ever grows.
    tags: Box<[Option<u64>]>,
    /// Successful claims in each slot since it was last recycled.
    claims: Box<[u64]>,
    /// Successful claims in this shard since the guard was built or
    /// loaded: a save that finds the sum unchanged has nothing new to
    /// write ([`MemoryGuard::changes`]).
    changes: u64,
}

/// A lock stripe: one shard's slice of every generation, on cache lines of
/// its own so that workers claiming in different shards do not
/// false-share.
#[repr(align(128))]
struct Shard {
    state: Mutex<ShardState>,
    /// Blocks of slot `s` are `blocks[s * blocks_per_slice..(s + 1) *
    /// blocks_per_slice]`. Their words are atomics only so that
    /// `claim_batch` may *read* one without the lock, to bring its line
    /// into cache ahead of the locked pass (the value read is discarded).
    /// Every write, and every read whose value matters, happens while
    /// `state` is locked; the lock orders them, so `Relaxed` loads and
    /// plain stores (no read-modify-write) suffice.
    blocks: Box<[Block]>,
}

impl Shard {
    /// The shard's state. A panic while the lock was held cannot leave the
    /// state unsafe to use: bits are only ever set (a claim interrupted
    /// half-way returned no success, so at worst a fresh id later meets a
    /// false positive), and recycling sets the tag only after clearing.
    fn lock(&self) -> MutexGuard<'_, ShardState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The blocks of one slot.
    fn slot(&self, slot: usize, bps: usize) -> &[Block] {
        &self.blocks[slot * bps..(slot + 1) * bps]
    }
}

/// Where an id's bits are: its shard, its block within the shard's slice
/// of a generation, and the word that gives its positions in the block.
#[derive(Clone, Copy)]
struct Probe {
    shard: usize,
    block: usize,
    pattern: u64,
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
        let blocks = layout
            .blocks_per_slice
            .checked_mul(layout.generations)
            .ok_or(GuardConfigError::TooLarge)?;
        let shards = (0..layout.shards)
            .map(|_| Shard {
                state: Mutex::new(ShardState {
                    tags: vec![None; layout.generations].into_boxed_slice(),
                    claims: vec![0; layout.generations].into_boxed_slice(),
                    changes: 0,
                }),
                blocks: (0..blocks).map(|_| Block::default()).collect(),
            })
            .collect();
        let (k0, k1) = le_words(&seed);
        Ok(MemoryGuard {
            shards,
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

    /// Bits set per claim (`k`).
    pub fn hash_count(&self) -> u32 {
        self.layout.hashes
    }

    /// Bits in one generation's filter (`m`).
    pub fn bits_per_generation(&self) -> u64 {
        self.layout.blocks_per_slice as u64 * BLOCK_BITS * self.layout.shards as u64
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
        let m = self.bits_per_generation() as f64;
        GuardStats {
            live_claims,
            busiest_generation_claims: busiest,
            estimated_false_positive_rate: blocked_fp(busiest as f64, m, self.layout.hashes),
        }
    }

    /// The generation a claim belongs to, or why the guard refuses it.
    fn generation(&self, expiry: UnixSeconds, now: UnixSeconds) -> Result<u64, TicketReject> {
        // RFC 5723 §6.1: "A "ticket by value" MUST include a protected
        // expiration time, which is an absolute time value". A ticket past
        // it is not accepted: opening refuses it first; the guard refuses
        // it too rather than file it.
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

    /// Keyed hash of the id: shard, block and bit pattern.
    fn probe(&self, id: &TicketId) -> Probe {
        let (m0, m1) = le_words(&id.0);
        let h = siphash::<1, 3>(self.k0, self.k1, m0, m1);
        Probe {
            // The shard from the high bits of h; the block and the pattern
            // from two words a bijective mixer makes of h, whose high bits
            // are independent of h's.
            shard: reduce(h, self.layout.shards as u64) as usize,
            block: reduce(
                mix64(h ^ 0x243f_6a88_85a3_08d3),
                self.layout.blocks_per_slice as u64,
            ) as usize,
            pattern: mix64(h ^ 0x1319_8a2e_0370_7344),
        }
    }

    /// The id's `k` bits within its block, as one mask per word: 9 bits of
    /// the pattern per position, seven positions per 64-bit word, the word
    /// re-mixed for every further seven.
    fn masks(&self, pattern: u64) -> [u64; 8] {
        let mut masks = [0u64; 8];
        let mut w = pattern;
        for i in 0..self.layout.hashes {
            if i > 0 && i % 7 == 0 {
                w = mix64(w);
            }
            let pos = (w >> (9 * (i % 7))) & 511;
            masks[(pos >> 6) as usize] |= 1u64 << (pos & 63);
        }
        masks
    }
}

impl MemoryGuard {
    /// The claim proper, for an id already hashed into `p` and filed in
    /// generation `g`.
    fn claim_probed(&self, p: Probe, g: u64) -> Result<(), TicketReject> {
        let bps = self.layout.blocks_per_slice;
        let slot = (g % self.layout.generations as u64) as usize;
        let masks = self.masks(p.pattern);
        let shard = &self.shards[p.shard];
        let mut guard = shard.lock();
        let st = &mut *guard;
        let blocks = shard.slot(slot, bps);
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
                    for w in blocks.iter().flat_map(|b| b.0.iter()) {
                        w.store(0, Ordering::Relaxed);
                    }
                }
                st.claims[slot] = 0;
                st.tags[slot] = Some(g);
            }
        }
        // RFC 5723 §4.3.1: "A reused ticket SHOULD be rejected by a
        // gateway. Note that a ticket is considered as used only when an
        // IKE SA has been established successfully with it." Test-and-set
        // of all k bits under the shard lock: the claim is fresh iff at
        // least one bit was clear. Load and store, not fetch_or: the lock
        // already excludes other writers.
        // Every word is stored, without a branch: which words hold the k
        // bits is random, so branching on it mispredicts.
        let mut clear = 0u64;
        for (word, &mask) in blocks[p.block].0.iter().zip(masks.iter()) {
            let v = word.load(Ordering::Relaxed);
            clear |= !v & mask;
            word.store(v | mask, Ordering::Relaxed);
        }
        if clear != 0 {
            st.claims[slot] += 1;
            st.changes += 1;
            Ok(())
        } else {
            Err(TicketReject::Reused)
        }
    }

    /// Read (without the lock) the first word of the block a claim of `p`
    /// in generation `g` will touch, so that its line is in cache when the
    /// locked pass comes. Plain loads carry no fence, so the misses of a
    /// whole batch overlap; the value is discarded.
    fn warm(&self, p: Probe, g: u64) -> u64 {
        let slot = (g % self.layout.generations as u64) as usize;
        self.shards[p.shard].slot(slot, self.layout.blocks_per_slice)[p.block].0[0]
            .load(Ordering::Relaxed)
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
    /// its block without the lock (the cache misses overlap), then claim
    /// each in order under its shard's lock, on a line now in cache. A lone
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
            // Hash the whole run first, then issue its loads back to back:
            // interleaved with the hashing, only the few loads that fit in
            // the reorder window at once would overlap.
            for (c, slot) in cs.iter().zip(probes.iter_mut()) {
                *slot = self
                    .generation(c.expiry, now)
                    .map(|g| (self.probe(&c.id), g));
            }
            let acc = probes[..cs.len()]
                .iter()
                .flatten()
                .fold(0u64, |a, &(p, g)| a | self.warm(p, g));
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
        let masks = self.masks(p.pattern);
        let slot = (g % self.layout.generations as u64) as usize;
        let shard = &self.shards[p.shard];
        let st = shard.lock();
        if st.tags[slot] != Some(g) {
            // Nothing filed in g yet (claim would succeed), or g already
            // recycled (claim would say Expired).
            return false;
        }
        let block = &shard.slot(slot, self.layout.blocks_per_slice)[p.block];
        let clear = block
            .0
            .iter()
            .zip(masks.iter())
            .fold(0u64, |c, (w, &m)| c | (!w.load(Ordering::Relaxed) & m));
        clear == 0
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
        assert!(pa.block != pb.block || pa.pattern != pb.pattern);
    }

    /// The blocked-filter formula: 1 % at the default sizing, and it
    /// agrees with the unblocked formula when blocks are nearly empty.
    #[test]
    fn blocked_fp_formula() {
        let cfg = GuardConfig::default();
        let m = cfg.bits_per_generation().expect("config") as f64;
        let k = cfg.hash_count().expect("config");
        let fp = blocked_fp(1e7, m, k);
        assert!(fp <= 0.01 && fp > 0.009, "fp = {fp}");
        // Blocking always costs something over an unblocked filter.
        let unblocked = (1.0 - (-f64::from(k) * 2e6 / m).exp()).powi(k as i32);
        assert!(blocked_fp(2e6, m, k) > unblocked);
        // Reference values from a direct sum with factorials in 50-digit
        // decimal arithmetic (λ = 10 and λ = 50).
        for (n, k, want) in [
            (1000.0, 3, 0.000_236_510_956_675_664_7),
            (5000.0, 4, 0.011_704_537_308_196_16),
        ] {
            let got = blocked_fp(n, 51_200.0, k);
            assert!((got - want).abs() < 1e-10 * want, "{got} vs {want}");
        }
        assert_eq!(blocked_fp(0.0, m, k), 0.0);
    }

    #[test]
    fn masks_set_k_bits_at_most() {
        let g = MemoryGuard::new(
            GuardConfig {
                claims_per_generation: 1000,
                false_positive_rate: MIN_FALSE_POSITIVE_RATE,
                ..GuardConfig::default()
            },
            [0; 16],
        )
        .expect("config");
        assert!(g.hash_count() > 7, "exercise the re-mix");
        for pattern in [0u64, 1, u64::MAX, 0x0123_4567_89ab_cdef] {
            let bits: u32 = g.masks(pattern).iter().map(|m| m.count_ones()).sum();
            assert!(bits >= 1 && bits <= g.hash_count());
        }
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
