//! AES-GCM (NIST SP 800-38D, RFC 5116) seal and open of many messages at
//! once: the session tickets of a burst under the ticket key, or the SK
//! payloads of many SAs each under its own key (RFC 5282).
//!
//! | file | concern |
//! | --- | --- |
//! | `key.rs` | [`AesGcmKey`]: round keys, H and its powers, zeroized |
//! | `ghash.rs` | GHASH with aggregated reduction on xmm / ymm / zmm |
//! | `kernels.rs` | AES on counter blocks: AES-NI, VAES ymm, VAES zmm |
//! | `batch.rs` | the driver interleaving jobs, tags, the portable path |
//!
//! The kernel used by the functions without `_with` is [`chosen`]: the
//! fastest on this CPU, measured at first use (a calibration of well under
//! a millisecond), or [`GcmKernel::Portable`] when `REBOUND_KERNELS=portable`.

mod batch;
mod ghash;
mod kernels;
mod key;

use std::sync::OnceLock;
use std::time::Instant;

pub use key::{AesGcmKey, DEFAULT_POWERS};

/// Why a GCM operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GcmError {
    /// The key is neither 16 nor 32 bytes.
    KeyLength,
    /// Open: the tag does not match (the buffer was zeroed).
    TagMismatch,
}

impl std::fmt::Display for GcmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GcmError::KeyLength => "AES-GCM key must be 16 or 32 bytes",
            GcmError::TagMismatch => "AES-GCM tag mismatch",
        })
    }
}

impl std::error::Error for GcmError {}

/// One message to seal: the buffer holds the plaintext and receives the
/// ciphertext; `tag` receives the tag.
#[derive(Debug)]
pub struct SealJob<'a> {
    pub nonce: [u8; 12],
    pub aad: &'a [u8],
    pub buf: &'a mut [u8],
    pub tag: [u8; 16],
}

impl<'a> SealJob<'a> {
    pub fn new(nonce: [u8; 12], aad: &'a [u8], buf: &'a mut [u8]) -> Self {
        SealJob {
            nonce,
            aad,
            buf,
            tag: [0; 16],
        }
    }
}

/// One message to open: the buffer holds the ciphertext and receives the
/// plaintext, or zeros if the tag does not match; `result` says which
/// (it is `Err(TagMismatch)` until the job is opened).
#[derive(Debug)]
pub struct OpenJob<'a> {
    pub nonce: [u8; 12],
    pub aad: &'a [u8],
    pub buf: &'a mut [u8],
    pub tag: [u8; 16],
    pub result: Result<(), GcmError>,
}

impl<'a> OpenJob<'a> {
    pub fn new(nonce: [u8; 12], aad: &'a [u8], buf: &'a mut [u8], tag: [u8; 16]) -> Self {
        OpenJob {
            nonce,
            aad,
            buf,
            tag,
            result: Err(GcmError::TagMismatch),
        }
    }
}

/// A seal job that brings its own key (an SA's SK payload).
#[derive(Debug)]
pub struct KeyedSealJob<'a> {
    pub key: &'a AesGcmKey,
    pub job: SealJob<'a>,
}

/// An open job that brings its own key.
#[derive(Debug)]
pub struct KeyedOpenJob<'a> {
    pub key: &'a AesGcmKey,
    pub job: OpenJob<'a>,
}

/// The implementations of GCM in this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GcmKernel {
    /// The `aes-gcm` crate.
    Portable,
    /// AES-NI and PCLMULQDQ on xmm registers, one block per register.
    Aesni,
    /// VAES and VPCLMULQDQ on ymm registers, two blocks per register.
    Vaes256,
    /// VAES and VPCLMULQDQ on zmm registers (AVX-512), four blocks per
    /// register.
    Vaes512,
}

impl GcmKernel {
    /// Every kernel, available here or not.
    pub const ALL: [GcmKernel; 4] = [
        GcmKernel::Portable,
        GcmKernel::Aesni,
        GcmKernel::Vaes256,
        GcmKernel::Vaes512,
    ];

    /// This CPU runs the kernel (always true for `Portable`; false for the
    /// others when `REBOUND_KERNELS=portable`).
    pub fn is_available(self) -> bool {
        let f = crate::cpu::features();
        let ni = f.aes_ni && f.pclmulqdq;
        let v = ni && f.avx2 && f.vaes && f.vpclmulqdq;
        match self {
            GcmKernel::Portable => true,
            GcmKernel::Aesni => ni,
            GcmKernel::Vaes256 => v,
            GcmKernel::Vaes512 => v && f.avx512,
        }
    }

    /// The kernels this CPU runs, `Portable` first.
    pub fn available() -> Vec<GcmKernel> {
        Self::ALL.into_iter().filter(|k| k.is_available()).collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            GcmKernel::Portable => "portable",
            GcmKernel::Aesni => "aesni",
            GcmKernel::Vaes256 => "vaes256",
            GcmKernel::Vaes512 => "vaes512",
        }
    }
}

/// What the first-use calibration measured: nanoseconds per 200-byte
/// ticket sealed in a batch of 16 under one key (best of several runs),
/// for every available kernel, and the one chosen.
#[derive(Debug, Clone)]
pub struct Calibration {
    pub chosen: GcmKernel,
    pub ns_per_ticket: Vec<(GcmKernel, f64)>,
}

/// The calibration, run once at first use.
pub fn calibration() -> &'static Calibration {
    static C: OnceLock<Calibration> = OnceLock::new();
    C.get_or_init(calibrate)
}

/// The kernel the functions without `_with` use.
pub fn chosen() -> GcmKernel {
    calibration().chosen
}

fn calibrate() -> Calibration {
    if crate::cpu::forced_portable() {
        return Calibration {
            chosen: GcmKernel::Portable,
            ns_per_ticket: Vec::new(),
        };
    }
    const N: usize = 16;
    const LEN: usize = 200;
    let key = AesGcmKey::new(&[0x5a; 32]).expect("32-byte key");
    let aad = [0x17u8; 16];
    let mut bufs = [[0u8; LEN]; N];
    let mut figures = Vec::new();
    for k in GcmKernel::available() {
        let mut best = f64::INFINITY;
        for rep in 0..12 {
            let mut jobs: [SealJob<'_>; N] =
                core::array::from_fn(|_| SealJob::new([0; 12], &aad, &mut []));
            for ((j, b), i) in jobs.iter_mut().zip(bufs.iter_mut()).zip(0u8..) {
                *j = SealJob::new([i; 12], &aad, b);
            }
            let t = Instant::now();
            seal_many_with(k, &key, &mut jobs);
            let ns = t.elapsed().as_nanos() as f64 / N as f64;
            if rep >= 2 {
                best = best.min(ns);
            }
        }
        figures.push((k, best));
    }
    let chosen = figures
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(GcmKernel::Portable, |f| f.0);
    Calibration {
        chosen,
        ns_per_ticket: figures,
    }
}

/// Seals every job under `key` with the chosen kernel.
pub fn seal_many(key: &AesGcmKey, jobs: &mut [SealJob<'_>]) {
    seal_many_with(chosen(), key, jobs)
}

/// Seals every job under `key` with `kernel` (the portable path if this
/// CPU does not run it).
///
/// # Panics
/// If a buffer is longer than GCM allows (2³² − 2 blocks).
pub fn seal_many_with(kernel: GcmKernel, key: &AesGcmKey, jobs: &mut [SealJob<'_>]) {
    match batch::Simd::new(kernel, key) {
        Some(s) => batch::seal_simd(s, key, jobs),
        None => batch::seal_portable(key, jobs),
    }
}

/// Opens every job under `key` with the chosen kernel; each job's
/// `result` says whether its tag matched (its buffer is zeroed if not).
pub fn open_many(key: &AesGcmKey, jobs: &mut [OpenJob<'_>]) {
    open_many_with(chosen(), key, jobs)
}

/// Opens every job under `key` with `kernel`.
///
/// # Panics
/// If a buffer is longer than GCM allows (2³² − 2 blocks).
pub fn open_many_with(kernel: GcmKernel, key: &AesGcmKey, jobs: &mut [OpenJob<'_>]) {
    match batch::Simd::new(kernel, key) {
        Some(s) => batch::open_simd(s, key, jobs),
        None => batch::open_portable(key, jobs),
    }
}

/// Runs of consecutive jobs with the same key (by address).
fn key_runs<T>(jobs: &mut [T], key: impl Fn(&T) -> *const AesGcmKey, mut f: impl FnMut(&mut [T])) {
    let mut rest = jobs;
    while let Some(first) = rest.first() {
        let k = key(first);
        let n = rest.iter().take_while(|j| std::ptr::eq(key(j), k)).count();
        let (run, tail) = rest.split_at_mut(n);
        f(run);
        rest = tail;
    }
}

/// Seals jobs that each bring their own key, with the chosen kernel.
pub fn seal_keyed(jobs: &mut [KeyedSealJob<'_>]) {
    seal_keyed_with(chosen(), jobs)
}

/// Seals jobs that each bring their own key; consecutive jobs with the
/// same key share kernel calls.
pub fn seal_keyed_with(kernel: GcmKernel, jobs: &mut [KeyedSealJob<'_>]) {
    key_runs(
        jobs,
        |j| j.key,
        |run| {
            let key = run[0].key;
            match batch::Simd::new(kernel, key) {
                Some(s) => batch::seal_simd(s, key, run),
                None => batch::seal_portable(key, run),
            }
        },
    );
}

/// Opens jobs that each bring their own key, with the chosen kernel.
pub fn open_keyed(jobs: &mut [KeyedOpenJob<'_>]) {
    open_keyed_with(chosen(), jobs)
}

/// Opens jobs that each bring their own key.
pub fn open_keyed_with(kernel: GcmKernel, jobs: &mut [KeyedOpenJob<'_>]) {
    key_runs(
        jobs,
        |j| j.key,
        |run| {
            let key = run[0].key;
            match batch::Simd::new(kernel, key) {
                Some(s) => batch::open_simd(s, key, run),
                None => batch::open_portable(key, run),
            }
        },
    );
}

/// Seals one message in place and returns its tag.
pub fn seal(key: &AesGcmKey, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
    let mut job = [SealJob::new(*nonce, aad, buf)];
    seal_many(key, &mut job);
    job[0].tag
}

/// Opens one message in place; on a tag mismatch the buffer is zeroed.
pub fn open(
    key: &AesGcmKey,
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; 16],
) -> Result<(), GcmError> {
    let mut job = [OpenJob::new(*nonce, aad, buf, *tag)];
    open_many(key, &mut job);
    job[0].result
}
