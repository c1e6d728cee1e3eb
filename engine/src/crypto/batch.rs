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

use rebound_kernels::hmac::{HmacSha256Key, hmac_many, hmac_many_raw, prf_plus_many};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::kdf::{MAX_IKE_KEYMAT, RESUMPTION_LABEL, check_nonces, ike_keymat, skeyseed_resume};
use super::{AuthForm, CryptoError, IkeSuite, PrfAlg, resume_auth, verify_resume_auth};

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
    // than the single-stream SHA-NI of the generic path. With
    // REBOUND_KERNELS=portable every one takes the plain RustCrypto path
    // (the kernels' scheduler not at all).
    if n == 1 || rebound_kernels::cpu::forced_portable() {
        let mut buf = [0u8; MAX_IKE_KEYMAT];
        for i in 0..n {
            let x = input(i);
            let total = x.suite.ike_keymat_len();
            let r = one(&x, &mut buf);
            store(i, r.map(|()| buf.get(..total).unwrap_or(&[])));
            buf.zeroize();
        }
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

/// The two AUTH values of one resumed IKE_AUTH (RFC 5723 §4.3.3, octets of
/// RFC 7296 §2.15): the initiator's, to check, and the responder's, to send.
#[derive(Clone, Copy)]
pub struct ResumeAuthInput<'a> {
    pub prf: PrfAlg,
    pub sk_pi: &'a [u8],
    pub sk_pr: &'a [u8],
    /// RealMessage1: the IKE_SESSION_RESUME request, as received.
    pub request: &'a [u8],
    pub nr: &'a [u8],
    /// The initiator's ID payload body (RestOfInitIDPayload).
    pub idi_body: &'a [u8],
    /// The AUTH data the initiator sent.
    pub received: &'a [u8],
    /// RealMessage2: the IKE_SESSION_RESUME response, as sent.
    pub response: &'a [u8],
    pub ni: &'a [u8],
    /// The responder's ID payload body (RestOfRespIDPayload).
    pub idr_body: &'a [u8],
}

/// What [`resume_auth_many`] found for one IKE_AUTH.
#[derive(Clone, Copy, Debug)]
pub struct ResumeAuthOutcome {
    /// The form the initiator's AUTH matched, as
    /// [`verify_resume_auth`](super::verify_resume_auth) returns it.
    pub form: Option<AuthForm>,
    /// When it matched: the responder's AUTH in that form,
    /// `auth[..auth_len]`, as [`resume_auth`](super::resume_auth) computes
    /// it.
    pub auth: [u8; PrfAlg::MAX_OUTPUT_LEN],
    pub auth_len: usize,
}

impl Default for ResumeAuthOutcome {
    fn default() -> Self {
        ResumeAuthOutcome {
            form: None,
            auth: [0; PrfAlg::MAX_OUTPUT_LEN],
            auth_len: 0,
        }
    }
}

/// Check the initiator's AUTH and compute the responder's for `n` resumed
/// IKE_AUTHs, the `i`th from `input(i)`, into `out[i]`. With
/// PRF_HMAC_SHA2_256 every prf of the burst runs on the multi-buffer
/// kernels: the key states of SK_pi and SK_pr, then prf(SK_pi, IDi'),
/// prf(SK_pr, IDr') and the message-only form prf(SK_pi, RealMessage1),
/// then prf(SK_pi, RealMessage1 | Nr | MACedIDForI) and prf(SK_pr,
/// RealMessage2 | Ni | MACedIDForR). Both forms are always computed and
/// compared in constant time, as `verify_resume_auth` does.
///
/// # Panics
/// When `out` is shorter than `n`.
pub fn resume_auth_many<'a>(
    n: usize,
    input: impl Fn(usize) -> ResumeAuthInput<'a>,
    out: &mut [ResumeAuthOutcome],
) {
    let out = &mut out[..n];
    // One alone gains nothing from lanes (see `derive_resumed_many`); with
    // REBOUND_KERNELS=portable every one takes the plain RustCrypto path.
    if n == 1 || rebound_kernels::cpu::forced_portable() {
        for (i, o) in out.iter_mut().enumerate() {
            *o = auth_one(&input(i));
        }
        return;
    }
    let mut base = 0;
    while base < n {
        let len = (n - base).min(MAX_KDF_BATCH);
        auth_chunk(base, len, &input, &mut out[base..base + len]);
        base += len;
    }
}

/// One IKE_AUTH through the generic PRF code.
fn auth_one(x: &ResumeAuthInput<'_>) -> ResumeAuthOutcome {
    let mut o = ResumeAuthOutcome {
        form: verify_resume_auth(x.prf, x.sk_pi, x.request, x.nr, x.idi_body, x.received),
        ..ResumeAuthOutcome::default()
    };
    if let Some(form) = o.form {
        match resume_auth(
            x.prf,
            x.sk_pr,
            form,
            x.response,
            x.ni,
            x.idr_body,
            &mut o.auth,
        ) {
            Ok(len) => o.auth_len = len,
            Err(_) => o.form = None,
        }
    }
    o
}

fn auth_chunk<'a>(
    base: usize,
    len: usize,
    input: &impl Fn(usize) -> ResumeAuthInput<'a>,
    out: &mut [ResumeAuthOutcome],
) {
    const N: usize = MAX_KDF_BATCH;
    let mut xs = [None; N];
    let mut idx = [0usize; N];
    let mut m = 0;
    for (j, o) in out.iter_mut().enumerate().take(len) {
        let x = input(base + j);
        if x.prf != PrfAlg::HmacSha256 {
            *o = auth_one(&x);
            continue;
        }
        xs[m] = Some(x);
        idx[m] = j;
        m += 1;
    }
    if m == 0 {
        return;
    }
    let lane = |l: usize| xs[l].as_ref();
    // Key states: SK_pi of every lane, then SK_pr.
    let mut keys: [HmacSha256Key; 2 * N] = core::array::from_fn(|_| HmacSha256Key::default());
    {
        let mut raw: [&[u8]; 2 * N] = [&[]; 2 * N];
        for l in 0..m {
            if let Some(x) = lane(l) {
                raw[l] = x.sk_pi;
                raw[m + l] = x.sk_pr;
            }
        }
        HmacSha256Key::new_many(&raw[..2 * m], &mut keys[..2 * m]);
    }
    let (pi, pr) = keys.split_at(m);

    // Round 1: MACedIDForI, MACedIDForR, and the message-only form.
    let mut parts1: [[&[u8]; 1]; 3 * N] = [[&[]]; 3 * N];
    let mut keys1: [&HmacSha256Key; 3 * N] = [&pi[0]; 3 * N];
    for l in 0..m {
        if let Some(x) = lane(l) {
            parts1[l] = [x.idi_body];
            keys1[l] = &pi[l];
            parts1[m + l] = [x.idr_body];
            keys1[m + l] = &pr[l];
            parts1[2 * m + l] = [x.request];
            keys1[2 * m + l] = &pi[l];
        }
    }
    let mut msgs1: [&[&[u8]]; 3 * N] = [&[]; 3 * N];
    for (msg, p) in msgs1.iter_mut().zip(parts1.iter()).take(3 * m) {
        *msg = p;
    }
    let mut macs1 = [[0u8; 32]; 3 * N];
    hmac_many(&keys1[..3 * m], &msgs1[..3 * m], &mut macs1[..3 * m]);

    // Round 2: the RFC 7296 §2.15 form of both AUTHs.
    let mut parts2: [[&[u8]; 3]; 2 * N] = [[&[]; 3]; 2 * N];
    let mut keys2: [&HmacSha256Key; 2 * N] = [&pi[0]; 2 * N];
    for l in 0..m {
        if let Some(x) = lane(l) {
            // InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
            parts2[l] = [x.request, x.nr, &macs1[l]];
            keys2[l] = &pi[l];
            // ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
            parts2[m + l] = [x.response, x.ni, &macs1[m + l]];
            keys2[m + l] = &pr[l];
        }
    }
    let mut msgs2: [&[&[u8]]; 2 * N] = [&[]; 2 * N];
    for (msg, p) in msgs2.iter_mut().zip(parts2.iter()).take(2 * m) {
        *msg = p;
    }
    let mut macs2 = [[0u8; 32]; 2 * N];
    hmac_many(&keys2[..2 * m], &msgs2[..2 * m], &mut macs2[..2 * m]);

    for l in 0..m {
        let Some(x) = lane(l) else { continue };
        let o = &mut out[idx[l]];
        *o = ResumeAuthOutcome::default();
        // As `verify_resume_auth`: both forms compared, the RFC's first.
        let rfc: bool = macs2[l][..].ct_eq(x.received).into();
        let only: bool = macs1[2 * m + l][..].ct_eq(x.received).into();
        o.form = if rfc {
            Some(AuthForm::Rfc)
        } else if only {
            Some(AuthForm::MessageOnly)
        } else {
            None
        };
        // The answer in the initiator's form (RFC 5723 §4.3.3).
        let auth = match o.form {
            Some(AuthForm::Rfc) => macs2[m + l],
            Some(AuthForm::MessageOnly) => pr[l].mac(&[x.response]),
            None => continue,
        };
        o.auth[..32].copy_from_slice(&auth);
        o.auth_len = 32;
    }
}
