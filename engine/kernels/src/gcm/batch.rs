//! The batch driver: jobs under one key, their counter blocks run through
//! the AES kernel together, then GHASH per job and the tags; and the
//! portable path on the `aes-gcm` crate.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::borrow::BorrowMut;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit, Nonce, Tag};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::kernels::Block;
use super::{AesGcmKey, GcmError, GcmKernel, KeyedOpenJob, KeyedSealJob, OpenJob, SealJob};

/// Counter blocks encrypted per kernel call.
const GROUP: usize = 32;
/// Jobs per pass (the stack scratch of E_K(J0) and GHASH values).
const JOBS: usize = 64;
/// GCM's bound on the plaintext: 2³² − 2 blocks.
pub(crate) const MAX_LEN: usize = ((1usize << 32) - 2) * 16;

impl<'a> std::borrow::Borrow<SealJob<'a>> for KeyedSealJob<'a> {
    fn borrow(&self) -> &SealJob<'a> {
        &self.job
    }
}
impl<'a> BorrowMut<SealJob<'a>> for KeyedSealJob<'a> {
    fn borrow_mut(&mut self) -> &mut SealJob<'a> {
        &mut self.job
    }
}
impl<'a> std::borrow::Borrow<OpenJob<'a>> for KeyedOpenJob<'a> {
    fn borrow(&self) -> &OpenJob<'a> {
        &self.job
    }
}
impl<'a> BorrowMut<OpenJob<'a>> for KeyedOpenJob<'a> {
    fn borrow_mut(&mut self) -> &mut OpenJob<'a> {
        &mut self.job
    }
}

/// A SIMD kernel this CPU can run with a key that has its round keys and
/// powers. Only [`Simd::new`] makes one, after checking both: that is the
/// invariant the `unsafe` calls below rest on.
#[derive(Clone, Copy)]
pub(crate) struct Simd {
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Xmm,
    Ymm,
    Zmm,
}

impl Simd {
    pub(crate) fn new(kernel: GcmKernel, key: &AesGcmKey) -> Option<Simd> {
        if key.npow == 0 || !kernel.is_available() {
            return None;
        }
        let kind = match kernel {
            GcmKernel::Portable => return None,
            GcmKernel::Aesni => Kind::Xmm,
            GcmKernel::Vaes256 => Kind::Ymm,
            GcmKernel::Vaes512 => Kind::Zmm,
        };
        Some(Simd { kind })
    }

    fn width(self) -> usize {
        match self.kind {
            Kind::Xmm => 1,
            Kind::Ymm => 2,
            Kind::Zmm => 4,
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn encrypt(self, key: &AesGcmKey, blocks: &mut [Block]) {
        use super::kernels::*;
        // SAFETY: a `Simd` exists only if `GcmKernel::is_available` found
        // this kernel's CPU features (Simd::new) and the key was expanded
        // (npow > 0, so rk holds nr + 1 round keys); the ymm and zmm
        // kernels get a multiple of their width (the caller rounds up).
        unsafe {
            match self.kind {
                Kind::Xmm => encrypt_xmm(&key.rk, key.nr, blocks),
                Kind::Ymm => encrypt_ymm(&key.rk, key.nr, blocks),
                Kind::Zmm => encrypt_zmm(&key.rk, key.nr, blocks),
            }
        }
    }

    /// The GHASH of `aad` and `ct` (with the length block), in GCM's byte
    /// order.
    #[cfg(target_arch = "x86_64")]
    fn ghash(self, key: &AesGcmKey, aad: &[u8], ct: &[u8]) -> Block {
        use super::ghash::*;
        let mut len = [0u8; 16];
        len[..8].copy_from_slice(&(aad.len() as u64 * 8).to_be_bytes());
        len[8..].copy_from_slice(&(ct.len() as u64 * 8).to_be_bytes());
        let (pw, c) = (&key.pw, key.npow);
        // SAFETY: as in `encrypt`: the features of this kernel were
        // detected, and the key holds H^1..H^npow with npow in {4, 8, 16}
        // (even, and a multiple of four, as the ymm and zmm updates need).
        unsafe {
            let mut acc = _mm_setzero_si128();
            match self.kind {
                Kind::Xmm => {
                    acc = update_xmm(pw, c, acc, aad);
                    acc = update_xmm(pw, c, acc, ct);
                    acc = update_xmm(pw, c, acc, &len);
                }
                Kind::Ymm => {
                    acc = update_ymm(pw, c, acc, aad);
                    acc = update_ymm(pw, c, acc, ct);
                    acc = update_ymm(pw, c, acc, &len);
                }
                Kind::Zmm if aad.len().div_ceil(16) + ct.len().div_ceil(16) < c => {
                    acc = oneshot_zmm(pw, aad, ct, &len);
                }
                Kind::Zmm => {
                    acc = update_zmm(pw, c, acc, aad);
                    acc = update_zmm(pw, c, acc, ct);
                    acc = update_zmm(pw, c, acc, &len);
                }
            }
            finish(acc)
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn encrypt(self, _key: &AesGcmKey, _blocks: &mut [Block]) {
        unreachable!("no SIMD kernel off x86_64")
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn ghash(self, _key: &AesGcmKey, _aad: &[u8], _ct: &[u8]) -> Block {
        unreachable!("no SIMD kernel off x86_64")
    }
}

/// A job's nonce and buffer, for the counter stream.
pub(crate) trait CtrJob {
    fn parts(&mut self) -> (&[u8; 12], &mut [u8]);
}

impl CtrJob for SealJob<'_> {
    fn parts(&mut self) -> (&[u8; 12], &mut [u8]) {
        (&self.nonce, self.buf)
    }
}
impl CtrJob for OpenJob<'_> {
    fn parts(&mut self) -> (&[u8; 12], &mut [u8]) {
        (&self.nonce, self.buf)
    }
}
impl CtrJob for KeyedSealJob<'_> {
    fn parts(&mut self) -> (&[u8; 12], &mut [u8]) {
        self.job.parts()
    }
}
impl CtrJob for KeyedOpenJob<'_> {
    fn parts(&mut self) -> (&[u8; 12], &mut [u8]) {
        self.job.parts()
    }
}

#[repr(align(64))]
struct Blocks([Block; GROUP]);

/// The counter stream of a run of jobs: for each job E_K(J0) into `ej0`
/// and its buffer XORed with the keystream. The counter blocks of
/// consecutive jobs share kernel calls; the bookkeeping is per run of one
/// job's blocks, the XOR per run over contiguous bytes.
fn ctr_phase<J: CtrJob>(simd: Simd, key: &AesGcmKey, jobs: &mut [J], ej0: &mut [Block]) {
    let mut ctr = Blocks([[0; 16]; GROUP]);
    // (job, first block, count, position in ctr); block 0 is J0.
    let mut runs = [(0u32, 0u32, 0u32, 0u32); GROUP];
    let (mut n, mut nruns, mut used) = (0, 0, 0);
    let flush = |ctr: &mut Blocks,
                 runs: &[(u32, u32, u32, u32)],
                 n: usize,
                 jobs: &mut [J],
                 ej0: &mut [Block]| {
        simd.encrypt(key, &mut ctr.0[..n.next_multiple_of(simd.width())]);
        for &(j, b, count, at) in runs {
            let (j, b, at) = (j as usize, b as usize, at as usize);
            let mut ks = ctr.0[at..at + count as usize].as_flattened();
            let mut first = b;
            if b == 0 {
                ej0[j] = ctr.0[at];
                ks = &ks[16..];
                first = 1;
            }
            let (_, buf) = jobs[j].parts();
            let s = (first - 1) * 16;
            let bl = buf.len();
            let d = &mut buf[s.min(bl)..(s + ks.len()).min(bl)];
            for (x, k) in d.iter_mut().zip(ks) {
                *x ^= k;
            }
        }
    };
    for j in 0..jobs.len() {
        let (nonce, buf) = jobs[j].parts();
        assert!(
            buf.len() <= MAX_LEN,
            "GCM message longer than 2^32 - 2 blocks"
        );
        let mut b0 = [0u8; 16];
        b0[..12].copy_from_slice(nonce);
        let base = u128::from_le_bytes(b0);
        let nblk = 1 + buf.len().div_ceil(16);
        let mut b = 0;
        while b < nblk {
            let take = (nblk - b).min(GROUP - n);
            for (t, c) in ctr.0[n..n + take].iter_mut().enumerate() {
                let v = u32::from_le_bytes(((b + t) as u32 + 1).to_be_bytes());
                *c = (base | (v as u128) << 96).to_le_bytes();
            }
            runs[nruns] = (j as u32, b as u32, take as u32, n as u32);
            nruns += 1;
            n += take;
            b += take;
            used = used.max(n);
            if n == GROUP {
                flush(&mut ctr, &runs[..nruns], n, jobs, ej0);
                n = 0;
                nruns = 0;
            }
        }
    }
    if n > 0 {
        flush(&mut ctr, &runs[..nruns], n, jobs, ej0);
    }
    wipe(&mut ctr.0[..used.next_multiple_of(simd.width())]);
}

/// Wipes blocks with one volatile 16-byte store each (`zeroize` on byte
/// arrays stores byte by byte, which costs more than the kernels).
fn wipe(blocks: &mut [Block]) {
    for b in blocks {
        // SAFETY: `b` is a valid, aligned, exclusive reference to a block.
        unsafe { std::ptr::write_volatile(b, [0; 16]) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

fn xor(a: &Block, b: &Block) -> Block {
    (u128::from_ne_bytes(*a) ^ u128::from_ne_bytes(*b)).to_ne_bytes()
}

pub(crate) fn seal_simd<'a, J: BorrowMut<SealJob<'a>> + CtrJob>(
    simd: Simd,
    key: &AesGcmKey,
    jobs: &mut [J],
) {
    let mut ej0 = [[0u8; 16]; JOBS];
    for chunk in jobs.chunks_mut(JOBS) {
        ctr_phase(simd, key, chunk, &mut ej0);
        for (job, e) in chunk.iter_mut().zip(&ej0) {
            let job = job.borrow_mut();
            job.tag = xor(&simd.ghash(key, job.aad, job.buf), e);
        }
    }
    wipe(&mut ej0[..jobs.len().min(JOBS)]);
}

pub(crate) fn open_simd<'a, J: BorrowMut<OpenJob<'a>> + CtrJob>(
    simd: Simd,
    key: &AesGcmKey,
    jobs: &mut [J],
) {
    let mut ej0 = [[0u8; 16]; JOBS];
    let mut s = [[0u8; 16]; JOBS];
    for chunk in jobs.chunks_mut(JOBS) {
        for (job, s) in chunk.iter_mut().zip(s.iter_mut()) {
            let job = job.borrow_mut();
            *s = simd.ghash(key, job.aad, job.buf);
        }
        ctr_phase(simd, key, chunk, &mut ej0);
        for ((job, s), e) in chunk.iter_mut().zip(&s).zip(&ej0) {
            let job = job.borrow_mut();
            let ok: bool = xor(s, e).ct_eq(&job.tag).into();
            job.result = if ok {
                Ok(())
            } else {
                job.buf.zeroize();
                Err(GcmError::TagMismatch)
            };
        }
    }
    wipe(&mut ej0[..jobs.len().min(JOBS)]);
    wipe(&mut s[..jobs.len().min(JOBS)]);
}

/// The `aes-gcm` crate's cipher for a key, built per call (the portable
/// path keeps only the raw key, so key setup stays cheap). One lives on
/// the stack for the length of a call, so the size gap does not matter.
#[allow(clippy::large_enum_variant)]
enum Portable {
    A128(Aes128Gcm),
    A256(Aes256Gcm),
}

impl Portable {
    fn new(key: &AesGcmKey) -> Portable {
        let raw = &key.raw[..key.raw_len];
        if key.raw_len == 16 {
            Portable::A128(Aes128Gcm::new_from_slice(raw).expect("16-byte key"))
        } else {
            Portable::A256(Aes256Gcm::new_from_slice(raw).expect("32-byte key"))
        }
    }

    fn seal(&self, job: &mut SealJob<'_>) {
        assert!(
            job.buf.len() <= MAX_LEN,
            "GCM message longer than 2^32 - 2 blocks"
        );
        let n = Nonce::from_slice(&job.nonce);
        let tag = match self {
            Portable::A128(c) => c.encrypt_in_place_detached(n, job.aad, job.buf),
            Portable::A256(c) => c.encrypt_in_place_detached(n, job.aad, job.buf),
        }
        .expect("length checked");
        job.tag = tag.into();
    }

    fn open(&self, job: &mut OpenJob<'_>) {
        let n = Nonce::from_slice(&job.nonce);
        let t = Tag::from_slice(&job.tag);
        let r = match self {
            Portable::A128(c) => c.decrypt_in_place_detached(n, job.aad, job.buf, t),
            Portable::A256(c) => c.decrypt_in_place_detached(n, job.aad, job.buf, t),
        };
        job.result = match r {
            Ok(()) => Ok(()),
            Err(_) => {
                job.buf.zeroize();
                Err(GcmError::TagMismatch)
            }
        };
    }
}

impl Drop for Portable {
    /// aes-gcm 0.10 wipes its AES key schedule (the `zeroize` feature) but
    /// not the GHASH key H: overwrite the whole cipher with one built from
    /// an all-zero (public) key, and keep the compiler from dropping the
    /// stores as dead.
    fn drop(&mut self) {
        match self {
            Portable::A128(c) => *c = Aes128Gcm::new(&Default::default()),
            Portable::A256(c) => *c = Aes256Gcm::new(&Default::default()),
        }
        core::hint::black_box(&mut *self);
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    }
}

pub(crate) fn seal_portable<'a, J: BorrowMut<SealJob<'a>>>(key: &AesGcmKey, jobs: &mut [J]) {
    if jobs.is_empty() {
        return;
    }
    let p = Portable::new(key);
    for j in jobs {
        p.seal(j.borrow_mut());
    }
}

pub(crate) fn open_portable<'a, J: BorrowMut<OpenJob<'a>>>(key: &AesGcmKey, jobs: &mut [J]) {
    if jobs.is_empty() {
        return;
    }
    let p = Portable::new(key);
    for j in jobs {
        p.open(j.borrow_mut());
    }
}
