//! Key derivation for a whole burst of resumptions at once (RFC 5723 §5.1
//! and RFC 7296 §2.14), on the multi-buffer SHA-256 kernels of
//! `rebound-kernels` where the PRF is PRF_HMAC_SHA2_256, and one at a time
//! through [`super::prf`] for every other PRF.
//!
//! Per resumption with HMAC-SHA-256: SKEYSEED = prf(SK_d (old),
//! "Resumption" | Ni | Nr) is one HMAC with a key used once; then
//! prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) is one HMAC key setup (two
//! compressions, done once and reused by every round) and one HMAC per 32
//! bytes of key material. Every step runs over all the burst's
//! resumptions together: round n of prf+ of every SA in one multi-buffer
//! pass (round n + 1 needs round n, so the lanes are the SAs, not the
//! rounds).

use rebound_kernels::hmac::{HmacSha256Key, hmac_many_raw, prf_plus_many};
use zeroize::Zeroize;

use super::kdf::{MAX_IKE_KEYMAT, RESUMPTION_LABEL, check_nonces, ike_keymat, skeyseed_resume};
use super::{CryptoError, IkeSuite, PrfAlg};

/// The most resumptions [`derive_resumed_many`] processes together (a
/// longer batch runs in pieces of this size).
pub const MAX_KDF_BATCH: usize = 64;

/// What one resumed SA's keys derive from.
#[derive(Clone, Copy)]
pub struct ResumedKeyInput<'a> {
    /// The old SA's suite, carried in the ticket.
    pub suite: IkeSuite,
    pub sk_d_old: &'a [u8],
    pub ni: &'a [u8],
    pub nr: &'a [u8],
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
}

/// The key material `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi |
/// SK_pr}` of `n` resumed SAs, the `i`th deriving from `input(i)`:
/// `store(i, keymat)` is called once for each `i`, in order, with
/// `input(i).suite.ike_keymat_len()` bytes (split them with
/// [`super::IkeKeys::split_into`]) or the error (a nonce outside 8..=256
/// bytes). The key material is wiped once `store` returns.
pub fn derive_resumed_many<'a>(
    n: usize,
    input: impl Fn(usize) -> ResumedKeyInput<'a>,
    mut store: impl FnMut(usize, Result<&[u8], CryptoError>),
) {
    // One alone gains nothing from lanes: the scheduler's set-up costs more
    // than the single-stream SHA-NI of the generic path.
    if n == 1 {
        let mut buf = [0u8; MAX_IKE_KEYMAT];
        let x = input(0);
        let total = x.suite.ike_keymat_len();
        let r = one(&x, &mut buf);
        store(0, r.map(|()| buf.get(..total).unwrap_or(&[])));
        buf.zeroize();
        return;
    }
    // Scratch is sized for the batch: a short burst does not set up, and
    // wipe, sixty-four lanes.
    if n <= SMALL_BATCH {
        derive_chunks::<SMALL_BATCH>(n, &input, &mut store);
    } else {
        derive_chunks::<MAX_KDF_BATCH>(n, &input, &mut store);
    }
}

/// The scratch size for short batches.
const SMALL_BATCH: usize = 4;

fn derive_chunks<'a, const N: usize>(
    n: usize,
    input: &impl Fn(usize) -> ResumedKeyInput<'a>,
    store: &mut impl FnMut(usize, Result<&[u8], CryptoError>),
) {
    let mut keymat = [[0u8; MAX_IKE_KEYMAT]; N];
    let mut base = 0;
    while base < n {
        let len = (n - base).min(N);
        let mut chunk = [input(base); N];
        for (j, x) in chunk.iter_mut().enumerate().take(len).skip(1) {
            *x = input(base + j);
        }
        let chunk = &chunk[..len];
        let mut done: [Option<Result<(), CryptoError>>; N] = [const { None }; N];
        batch_sha256::<N>(chunk, &mut keymat, &mut done);
        for (j, x) in chunk.iter().enumerate() {
            let total = x.suite.ike_keymat_len();
            let buf = &mut keymat[j];
            let r = match done[j].take() {
                Some(r) => r,
                // Not HMAC-SHA-256: one at a time.
                None => one(x, buf),
            };
            store(base + j, r.map(|()| buf.get(..total).unwrap_or(&[])));
            // Only what was written: zeroize stores byte by byte.
            if let Some(used) = buf.get_mut(..total) {
                used.zeroize();
            }
        }
        base += len;
    }
}

/// One resumed SA through the generic PRF code.
fn one(input: &ResumedKeyInput<'_>, buf: &mut [u8; MAX_IKE_KEYMAT]) -> Result<(), CryptoError> {
    let total = input.suite.ike_keymat_len();
    let prf = input.suite.prf();
    let mut seed = [0u8; PrfAlg::MAX_OUTPUT_LEN];
    let r = skeyseed_resume(prf, input.sk_d_old, input.ni, input.nr, &mut seed).and_then(|n| {
        let out = buf.get_mut(..total).ok_or(CryptoError::KeymatLength {
            expected: total,
            actual: MAX_IKE_KEYMAT,
        })?;
        ike_keymat(
            prf,
            seed.get(..n).unwrap_or(&[]),
            input.ni,
            input.nr,
            &input.spi_i,
            &input.spi_r,
            out,
        )
    });
    seed.zeroize();
    r
}

/// The HMAC-SHA-256 inputs of `chunk` through the kernels: fills
/// `keymat[j]` and sets `done[j]` for each of them (an error for bad
/// nonces); returns how many it took.
fn batch_sha256<const N: usize>(
    chunk: &[ResumedKeyInput<'_>],
    keymat: &mut [[u8; MAX_IKE_KEYMAT]; N],
    done: &mut [Option<Result<(), CryptoError>>; N],
) -> usize {
    // The lanes: which inputs, and their parts.
    let mut idx = [0usize; N];
    let mut m = 0;
    for (j, input) in chunk.iter().enumerate() {
        if input.suite.prf() != PrfAlg::HmacSha256 || input.suite.ike_keymat_len() > MAX_IKE_KEYMAT
        {
            continue;
        }
        if let Err(e) = check_nonces(input.ni, input.nr) {
            done[j] = Some(Err(e));
            continue;
        }
        idx[m] = j;
        m += 1;
    }
    if m == 0 {
        return 0;
    }

    // SKEYSEED = prf(SK_d (old), "Resumption" | Ni | Nr), keys used once.
    let mut keys: [&[u8]; N] = [&[]; N];
    let mut parts: [[&[u8]; 3]; N] = [[&[]; 3]; N];
    for (l, &j) in idx[..m].iter().enumerate() {
        let x = &chunk[j];
        keys[l] = x.sk_d_old;
        parts[l] = [RESUMPTION_LABEL, x.ni, x.nr];
    }
    let mut msgs: [&[&[u8]]; N] = [&[]; N];
    for (msg, p) in msgs.iter_mut().zip(parts.iter()).take(m) {
        *msg = p;
    }
    let mut seeds = [[0u8; 32]; N];
    hmac_many_raw(&keys[..m], &msgs[..m], &mut seeds[..m]);

    // prf+(SKEYSEED, Ni | Nr | SPIi | SPIr): the key states once, then
    // every round of every SA.
    let mut hkeys: [HmacSha256Key; N] = core::array::from_fn(|_| HmacSha256Key::default());
    {
        let mut seed_refs: [&[u8]; N] = [&[]; N];
        for (r, s) in seed_refs.iter_mut().zip(seeds.iter()).take(m) {
            *r = s;
        }
        HmacSha256Key::new_many(&seed_refs[..m], &mut hkeys[..m]);
    }
    for s in &mut seeds[..m] {
        s.zeroize();
    }
    let mut seed_parts: [[&[u8]; 4]; N] = [[&[]; 4]; N];
    for (l, &j) in idx[..m].iter().enumerate() {
        let x = &chunk[j];
        seed_parts[l] = [x.ni, x.nr, &x.spi_i, &x.spi_r];
    }
    let mut seed_msgs: [&[&[u8]]; N] = [&[]; N];
    for (msg, p) in seed_msgs.iter_mut().zip(seed_parts.iter()).take(m) {
        *msg = p;
    }
    let mut key_refs: [&HmacSha256Key; N] = [&hkeys[0]; N];
    for (r, k) in key_refs.iter_mut().zip(hkeys.iter()).take(m) {
        *r = k;
    }
    // Lane l writes into keymat[idx[l]]: hand out the buffers in lane
    // order (idx is increasing, so each buffer is taken once).
    let mut bufs = keymat.iter_mut().enumerate();
    let mut outs: [&mut [u8]; N] = core::array::from_fn(|l| {
        if l >= m {
            return &mut [][..];
        }
        let want = idx[l];
        let total = chunk[want].suite.ike_keymat_len();
        match bufs.find(|(j, _)| *j == want) {
            Some((_, b)) => &mut b[..total],
            None => &mut [][..],
        }
    });
    prf_plus_many(&key_refs[..m], &seed_msgs[..m], &mut outs[..m]);
    for &j in &idx[..m] {
        done[j] = Some(Ok(()));
    }
    m
}
