//! HMAC-SHA256 (RFC 2104) over a batch: the key's inner and outer states
//! are computed once ([`HmacSha256Key`]), then every MAC of a batch runs
//! its inner hash through the multi-buffer scheduler and its outer block
//! through the multi-buffer kernel. IKEv2's prf is HMAC-SHA256
//! (PRF_HMAC_SHA2_256, RFC 4868), so [`hmac_many`] is the batched prf and
//! [`prf_plus_many`] the batched prf+ of RFC 7296 §2.13.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::sha256::{IV, Msg, Policy, Sha256Kernel, compress_refs, digest_bytes, hash_jobs};

/// Jobs per chunk: the size of the stack scratch.
const CHUNK: usize = 64;

/// The longest prf+ output: 255 blocks of 32 bytes (RFC 7296 §2.13).
pub const PRF_PLUS_MAX: usize = 255 * 32;

/// An HMAC-SHA256 key, kept as the SHA-256 states after the ipad and the
/// opad block. Zeroized on drop; its `Debug` shows nothing of it.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct HmacSha256Key {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl fmt::Debug for HmacSha256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacSha256Key").finish_non_exhaustive()
    }
}

impl HmacSha256Key {
    /// The key states of `key` (a key longer than 64 bytes is hashed
    /// first, RFC 2104 §2).
    pub fn new(key: &[u8]) -> HmacSha256Key {
        let mut k = [HmacSha256Key::default()];
        new_keys(Policy::Auto, &[key], &mut k);
        core::mem::take(&mut k[0])
    }

    /// The key states of every key, their key blocks compressed together.
    ///
    /// # Panics
    /// When `keys` and `out` differ in length.
    pub fn new_many(keys: &[&[u8]], out: &mut [HmacSha256Key]) {
        new_keys(Policy::Auto, keys, out);
    }

    /// [`HmacSha256Key::new_many`] with kernel `k` only.
    ///
    /// # Panics
    /// When `k` is not available on this CPU, or the lengths differ.
    pub fn new_many_with(k: Sha256Kernel, keys: &[&[u8]], out: &mut [HmacSha256Key]) {
        new_keys(fixed(k), keys, out);
    }

    /// HMAC-SHA256 of the concatenation of `parts` under this key.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut out = [[0u8; 32]];
        hmac_jobs(
            Policy::Auto,
            1,
            |_| self,
            |_| Msg::parts(parts),
            |_, d| out[0] = d,
        );
        out[0]
    }
}

/// Zeroizes scratch arrays (as flat slices: one volatile loop each).
fn wipe<T: zeroize::DefaultIsZeroes, const N: usize>(s: &mut [[T; N]]) {
    for a in s {
        a.as_mut_slice().zeroize();
    }
}

fn fixed(k: Sha256Kernel) -> Policy {
    assert!(
        k.is_available(),
        "the {} SHA-256 kernel is not available on this CPU",
        k.name()
    );
    Policy::Fixed(k)
}

fn new_keys(p: Policy, keys: &[&[u8]], out: &mut [HmacSha256Key]) {
    assert_eq!(keys.len(), out.len(), "one key state per key");
    // blocks[i]: key i's ipad block; blocks[m + i]: its opad block.
    let mut blocks = [[0u8; 64]; 2 * CHUNK];
    let mut states = [IV; 2 * CHUNK];
    let mut long = [0usize; CHUNK];
    for (keys, out) in keys.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
        let m = keys.len();
        // The key block: the key, or its digest when longer than a block.
        let mut nl = 0;
        for (i, key) in keys.iter().enumerate() {
            blocks[i] = [0; 64];
            if key.len() > 64 {
                long[nl] = i;
                nl += 1;
            } else {
                blocks[i][..key.len()].copy_from_slice(key);
            }
        }
        if nl > 0 {
            hash_jobs(
                p,
                nl,
                |j| Msg::parts(core::slice::from_ref(&keys[long[j]])),
                |_| IV,
                0,
                |j, s| blocks[long[j]][..32].copy_from_slice(&digest_bytes(s)),
            );
        }
        let (ipad, opad) = blocks.split_at_mut(m);
        for (ip, op) in ipad.iter_mut().zip(opad.iter_mut()) {
            for (i, o) in ip.iter_mut().zip(op.iter_mut()) {
                *o = *i ^ 0x5c;
                *i ^= 0x36;
            }
        }
        states[..2 * m].fill(IV);
        let refs: [&[u8; 64]; 2 * CHUNK] = core::array::from_fn(|i| &blocks[i]);
        compress_refs(p, &mut states[..2 * m], &refs[..2 * m]);
        for (i, o) in out.iter_mut().enumerate() {
            o.inner = states[i];
            o.outer = states[m + i];
        }
        // Only what this chunk used: zeroize writes byte by byte.
        wipe(&mut blocks[..2 * m]);
        wipe(&mut states[..2 * m]);
    }
}

/// HMAC of `n` jobs: job `i` is message `msg(i)` under key `key(i)`;
/// `out(i, mac)` gets each MAC.
fn hmac_jobs<'k, 'm>(
    p: Policy,
    n: usize,
    key: impl Fn(usize) -> &'k HmacSha256Key,
    msg: impl Fn(usize) -> Msg<'m>,
    mut out: impl FnMut(usize, [u8; 32]),
) {
    let mut blocks = [[0u8; 64]; CHUNK];
    let mut states = [IV; CHUNK];
    let mut base = 0;
    while base < n {
        let m = (n - base).min(CHUNK);
        hash_jobs(
            p,
            m,
            |i| msg(base + i),
            |i| key(base + i).inner,
            64,
            |i, s| {
                // The outer block: the inner digest, padded for 64 + 32 bytes.
                let b = &mut blocks[i];
                b[..32].copy_from_slice(&digest_bytes(s));
                b[32] = 0x80;
                b[33..].fill(0);
                b[62..].copy_from_slice(&768u16.to_be_bytes());
            },
        );
        for (i, s) in states[..m].iter_mut().enumerate() {
            *s = key(base + i).outer;
        }
        let refs: [&[u8; 64]; CHUNK] = core::array::from_fn(|i| &blocks[i]);
        compress_refs(p, &mut states[..m], &refs[..m]);
        for (i, s) in states[..m].iter().enumerate() {
            out(base + i, digest_bytes(s));
        }
        // The inner digests and the MACs (prf+ output is key material);
        // only what this chunk used, as zeroize writes byte by byte.
        for b in &mut blocks[..m] {
            b[..32].zeroize();
        }
        wipe(&mut states[..m]);
        base += m;
    }
}

fn hmac_policy(p: Policy, keys: &[&HmacSha256Key], msgs: &[&[&[u8]]], out: &mut [[u8; 32]]) {
    assert_eq!(keys.len(), msgs.len(), "one key per message");
    assert_eq!(msgs.len(), out.len(), "one MAC per message");
    hmac_jobs(
        p,
        msgs.len(),
        |i| keys[i],
        |i| Msg::parts(msgs[i]),
        |i, d| out[i] = d,
    );
}

/// `out[i]` = HMAC-SHA256(`keys[i]`, concatenation of `msgs[i]`): the
/// batched prf.
///
/// # Panics
/// When the three slices differ in length.
pub fn hmac_many(keys: &[&HmacSha256Key], msgs: &[&[&[u8]]], out: &mut [[u8; 32]]) {
    hmac_policy(Policy::Auto, keys, msgs, out);
}

/// [`hmac_many`] with kernel `k` only.
///
/// # Panics
/// When `k` is not available on this CPU, or the slices differ in length.
pub fn hmac_many_with(
    k: Sha256Kernel,
    keys: &[&HmacSha256Key],
    msgs: &[&[&[u8]]],
    out: &mut [[u8; 32]],
) {
    hmac_policy(fixed(k), keys, msgs, out);
}

fn hmac_raw_policy(p: Policy, keys: &[&[u8]], msgs: &[&[&[u8]]], out: &mut [[u8; 32]]) {
    assert_eq!(keys.len(), msgs.len(), "one key per message");
    assert_eq!(msgs.len(), out.len(), "one MAC per message");
    let mut states: [HmacSha256Key; CHUNK] = core::array::from_fn(|_| HmacSha256Key::default());
    for ((keys, msgs), out) in keys
        .chunks(CHUNK)
        .zip(msgs.chunks(CHUNK))
        .zip(out.chunks_mut(CHUNK))
    {
        let m = keys.len();
        new_keys(p, keys, &mut states[..m]);
        hmac_jobs(
            p,
            m,
            |i| &states[i],
            |i| Msg::parts(msgs[i]),
            |i, d| out[i] = d,
        );
    }
}

/// [`hmac_many`] for keys used once: the key setup of the whole batch and
/// the MACs, all multi-buffer.
///
/// # Panics
/// When the three slices differ in length.
pub fn hmac_many_raw(keys: &[&[u8]], msgs: &[&[&[u8]]], out: &mut [[u8; 32]]) {
    hmac_raw_policy(Policy::Auto, keys, msgs, out);
}

/// [`hmac_many_raw`] with kernel `k` only.
///
/// # Panics
/// When `k` is not available on this CPU, or the slices differ in length.
pub fn hmac_many_raw_with(
    k: Sha256Kernel,
    keys: &[&[u8]],
    msgs: &[&[&[u8]]],
    out: &mut [[u8; 32]],
) {
    hmac_raw_policy(fixed(k), keys, msgs, out);
}

/// The one-byte counters of prf+: `COUNTERS[n] == n`.
static COUNTERS: [u8; 256] = {
    let mut c = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        c[i] = i as u8;
        i += 1;
    }
    c
};

fn prf_plus_policy(p: Policy, keys: &[&HmacSha256Key], seeds: &[&[&[u8]]], out: &mut [&mut [u8]]) {
    assert_eq!(keys.len(), seeds.len(), "one key per seed");
    assert_eq!(seeds.len(), out.len(), "one output per seed");
    assert!(
        out.iter().all(|o| o.len() <= PRF_PLUS_MAX),
        "prf+ yields at most 255 blocks of 32 bytes"
    );
    let mut prev = [[0u8; 32]; CHUNK];
    let mut cur = [[0u8; 32]; CHUNK];
    let mut active = [0usize; CHUNK];
    let mut base = 0;
    while base < out.len() {
        let m = (out.len() - base).min(CHUNK);
        let rounds = out[base..base + m]
            .iter()
            .map(|o| o.len().div_ceil(32))
            .max()
            .unwrap_or(0);
        for r in 1..=rounds {
            // Jobs still short of output: T_r = prf(K, T_{r-1} | S | r).
            let mut na = 0;
            for i in 0..m {
                if out[base + i].len() > 32 * (r - 1) {
                    active[na] = i;
                    na += 1;
                }
            }
            let (prev_r, cur_r) = (&prev, &mut cur);
            hmac_jobs(
                p,
                na,
                |j| keys[base + active[j]],
                |j| Msg {
                    head: if r == 1 { &[] } else { &prev_r[active[j]] },
                    parts: seeds[base + active[j]],
                    tail: &COUNTERS[r..=r],
                },
                |j, d| cur_r[active[j]] = d,
            );
            for &i in &active[..na] {
                let o = &mut out[base + i];
                let end = o.len().min(32 * r);
                o[32 * (r - 1)..end].copy_from_slice(&cur[i][..end - 32 * (r - 1)]);
                prev[i] = cur[i];
            }
        }
        wipe(&mut prev[..m]);
        wipe(&mut cur[..m]);
        base += m;
    }
}

/// prf+ (RFC 7296 §2.13) of a batch: `out[i]` is filled with the first
/// `out[i].len()` bytes of T1 | T2 | ... under `keys[i]`, the seed being
/// the concatenation of `seeds[i]`. The rounds of one job depend on each
/// other, so round n of every job runs in one multi-buffer pass.
///
/// # Panics
/// When the slices differ in length, or an output is longer than
/// [`PRF_PLUS_MAX`].
pub fn prf_plus_many(keys: &[&HmacSha256Key], seeds: &[&[&[u8]]], out: &mut [&mut [u8]]) {
    prf_plus_policy(Policy::Auto, keys, seeds, out);
}

/// [`prf_plus_many`] with kernel `k` only.
///
/// # Panics
/// As [`prf_plus_many`], and when `k` is not available on this CPU.
pub fn prf_plus_many_with(
    k: Sha256Kernel,
    keys: &[&HmacSha256Key],
    seeds: &[&[&[u8]]],
    out: &mut [&mut [u8]],
) {
    prf_plus_policy(fixed(k), keys, seeds, out);
}
